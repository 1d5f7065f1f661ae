"""`Idempotency-Key` in-process (httpx.ASGITransport, a scripted gateway, the memory journal): the
key's checks, the body field, replay, failures that keep no answer. The cross-process cases (another
replica, SIGKILL mid-turn, SQLite) are in tests/e2e/test_http_idempotency.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import msgspec
import pytest

from rustyclaw.adapters.clock import SystemClock
from rustyclaw.adapters.http.app import create_app
from rustyclaw.adapters.http.idempotency import IdempotentTurns
from rustyclaw.adapters.http.settings import HttpSettings
from rustyclaw.adapters.http.testing import ScriptedGateway
from rustyclaw.adapters.inbox.memory import MemoryInbox
from rustyclaw.ports.inbox import Inbox

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@asynccontextmanager
async def client(gateway: ScriptedGateway, inbox: MemoryInbox) -> AsyncIterator[httpx.AsyncClient]:
    async def journal() -> Inbox:
        return inbox

    settings = HttpSettings(openai_enabled=True, agent_ids=["main"], default_agent="main", max_message_chars=100)
    app = create_app(gateway, settings, idempotent=IdempotentTurns(journal, SystemClock()))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:18789") as http:
        yield http


async def test_a_replay_is_the_first_body_and_the_turn_ran_once() -> None:
    gateway, inbox = ScriptedGateway(reply_text="answer"), MemoryInbox()
    async with client(gateway, inbox) as http:
        first = await http.post("/api/chat", json={"message": "hi", "clientMessageId": "k1"})
        again = await http.post("/api/chat", json={"message": "hi"}, headers={"Idempotency-Key": "k1"})
    assert first.status_code == again.status_code == 200
    assert again.content == first.content and again.headers["idempotent-replayed"] == "true"
    assert first.json()["session"].startswith("web-")  # derived from the key: the retry shares it
    assert len(gateway.messages) == 1
    assert gateway.messages[0].message_id == f"{first.json()['session']}/k1"
    assert [e.state for e in inbox.entries.values()] == ["delivered"]


async def test_bad_keys_and_a_reused_key_are_refused() -> None:
    gateway, inbox = ScriptedGateway(reply_text="answer"), MemoryInbox()
    async with client(gateway, inbox) as http:
        spaced = await http.post("/api/chat", json={"message": "hi"}, headers={"Idempotency-Key": "a b"})
        differ = await http.post("/api/chat", json={"message": "hi", "clientMessageId": "x"},
                                 headers={"Idempotency-Key": "y"})
        ok = await http.post("/api/chat", json={"message": "hi", "session": "s"}, headers={"Idempotency-Key": "k"})
        reused = await http.post("/api/chat", json={"message": "ho", "session": "s"},
                                 headers={"Idempotency-Key": "k"})
        other_session = await http.post("/api/chat", json={"message": "ho", "session": "t"},
                                        headers={"Idempotency-Key": "k"})
    assert (spaced.status_code, spaced.json()["error"]["code"]) == (400, "invalid_idempotency_key")
    assert (differ.status_code, differ.json()["error"]["code"]) == (400, "invalid_idempotency_key")
    assert ok.status_code == 200 and other_session.status_code == 200
    assert (reused.status_code, reused.json()["error"]["code"]) == (422, "idempotency_key_reused")
    assert len(gateway.messages) == 2


async def test_a_failed_turn_keeps_no_answer_so_the_retry_runs_it() -> None:
    gateway, inbox = ScriptedGateway(reply_text="answer", reply_error="the model failed"), MemoryInbox()
    body = {"model": "main", "user": "u1", "messages": [{"role": "user", "content": "hi"}]}
    async with client(gateway, inbox) as http:
        failed = await http.post("/v1/chat/completions", json=body, headers={"Idempotency-Key": "k"})
        # Nothing delivers an HTTP entry: never counted as waiting (status, the start-up log).
        assert (await inbox.counts()).unfinished == 0
        gateway.reply_error = None
        retried = await http.post("/v1/chat/completions", json=body, headers={"Idempotency-Key": "k"})
        replayed = await http.post("/v1/chat/completions", json=body, headers={"Idempotency-Key": "k"})
    assert failed.status_code == 502
    assert retried.status_code == 200 and "idempotent-replayed" not in retried.headers
    assert replayed.content == retried.content and replayed.headers["idempotent-replayed"] == "true"
    assert len(gateway.messages) == 2
    assert all(m.redelivered for m in gateway.messages)  # a stored message is finished, not dropped


def events(response: httpx.Response) -> list[str]:
    return [line[len("data: "):] for line in response.text.splitlines() if line.startswith("data: ")]


async def test_a_streamed_completion_is_replayed_as_a_stream_with_the_same_id() -> None:
    gateway, inbox = ScriptedGateway(deltas=("Hel", "lo!"), reply_text="Hello!"), MemoryInbox()
    body = {"model": "main", "user": "u1", "stream": True, "stream_options": {"include_usage": True},
            "messages": [{"role": "user", "content": "hi"}]}
    async with client(gateway, inbox) as http:
        first = await http.post("/v1/chat/completions", json=body, headers={"Idempotency-Key": "k"})
        again = await http.post("/v1/chat/completions", json=body, headers={"Idempotency-Key": "k"})
        whole = await http.post("/v1/chat/completions", json={**body, "stream": False},
                                headers={"Idempotency-Key": "k"})
    assert len(gateway.messages) == 1
    assert "idempotent-replayed" not in first.headers and again.headers["idempotent-replayed"] == "true"

    def text_and_ids(response: httpx.Response) -> tuple[str, set[str], dict[str, int]]:
        chunks = [msgspec.json.decode(e) for e in events(response) if e != "[DONE]"]
        text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
        usage = next(c["usage"] for c in chunks if not c["choices"])
        return text, {c["id"] for c in chunks}, usage

    assert text_and_ids(first)[0] == text_and_ids(again)[0] == "Hello!"
    assert text_and_ids(first)[1] == text_and_ids(again)[1]  # one completion id throughout
    assert text_and_ids(first)[2] == text_and_ids(again)[2]
    assert events(again)[-1] == "[DONE]"
    # The stateful retry without streaming gets the kept completion itself.
    assert whole.headers["idempotent-replayed"] == "true"
    assert whole.json()["id"] in text_and_ids(first)[1] and whole.json()["choices"][0]["message"]["content"] == "Hello!"
