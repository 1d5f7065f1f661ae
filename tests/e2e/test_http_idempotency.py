"""`Idempotency-Key` on `POST /api/chat` and `POST /v1/chat/completions`, through real `rustyclaw serve`
processes: two replicas on one PostgreSQL schema (a load balancer's retry lands on the other one), and
one process on SQLite (a client's own retry after it gave up waiting).

- the same key twice: one turn at the model (llmock counts the requests), the same body twice, the
  second marked `Idempotent-Replayed: true`;
- the same key with another message: 422;
- the replica holding the turn is SIGKILLed while the model stalls; the retry on the other replica
  waits for the turn lock the dead replica's connection held, finishes the turn, and the session
  holds the user message once with one answer.

Every wait is for a condition (the gateway logged its model request), bounded so a bug fails
instead of hanging; no duration is asserted.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from rustyclaw.adapters.storage.postgres import PostgresStore
from tests.e2e.gateway_process import GatewayProcess, wait_for, write_config
from tests.fixtures.llm_servers import LLMockServer
from tests.fixtures.postgres_schema import temporary_schema_sync

pytestmark = [pytest.mark.slow]

BOUND = 60.0  # a hang guard, not an expectation
TOKEN = "idempotency-test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def schema_dsn() -> Iterator[str]:
    with temporary_schema_sync("idem") as dsn:
        yield dsn


def gateway(tmp_path: Path, name: str, mock_llm: LLMockServer, storage: dict[str, Any], model: str = "m",
            **extra: Any) -> GatewayProcess:
    state = tmp_path / name / "state"
    state.mkdir(parents=True)
    config = write_config(
        tmp_path / name / "config.yaml", state, mock_llm.base_url, model,
        gateway={"openaiEndpoint": {"enabled": True}, "auth": {"token": TOKEN}, **extra},
        storage=storage,
    )
    return GatewayProcess(config, tmp_path / name)


def replicas(tmp_path: Path, mock_llm: LLMockServer, dsn: str) -> list[GatewayProcess]:
    """Replicas a and b; each names its own model ("m-a", "m-b") so llmock can script them apart."""
    storage = {"backend": "postgres", "postgres": {"dsn": dsn}}
    return [gateway(tmp_path, name, mock_llm, storage, f"m-{name}", replicas={"enabled": True, "leaseSeconds": 5})
            for name in ("a", "b")]


def chat(url: str, message: str, key: str, session: str = "s1") -> httpx.Response:
    return httpx.post(f"{url}/api/chat", json={"message": message, "session": session},
                      headers={**AUTH, "Idempotency-Key": key}, timeout=BOUND)


def model_asked(g: GatewayProcess) -> bool:
    """The gateway logged its model request (llmock journals a request only once it ended)."""
    return "llm request provider=" in g.log_path.read_text(errors="replace")


def user_prompts(mock_llm: LLMockServer, model: str | None = None) -> list[list[str]]:
    """The user messages of every prompt the model (`model` only, if given) was sent: the session's
    stored history. llmock lists a request once it ended (a killed replica's stalled one maybe never)."""
    return [[str(m.get("content")) for m in body["messages"] if m.get("role") == "user"]
            for body in mock_llm.chat_bodies() if model is None or body.get("model") == model]


def stop_all(gateways: list[GatewayProcess]) -> None:
    for g in gateways:
        if g.process is not None and g.process.poll() is None:
            g.stop()


async def stored(dsn: str) -> list[tuple[str, str]]:
    """(role, text) of the user and assistant messages of every stored session, in order."""
    store = PostgresStore(dsn)
    await store.start()
    try:
        found: list[tuple[str, str]] = []
        for entry in await store.list_sessions():
            found += [(m.role, str(m.content or "")) for m in await store.load_messages(entry)
                      if m.role in ("user", "assistant")]
        return found
    finally:
        await store.aclose()


@pytest.mark.postgres
def test_a_retry_on_another_replica_gets_the_first_answer_and_a_reused_key_is_refused(
    tmp_path: Path, mock_llm: LLMockServer, schema_dsn: str
) -> None:
    mock_llm.reply("first answer", times=1)
    mock_llm.reply("a second turn would say this", times=None)
    gateways = replicas(tmp_path, mock_llm, schema_dsn)
    a, b = gateways
    try:
        a.start()
        b.start()
        first = chat(a.url, "hello", "key-1")
        again = chat(b.url, "hello", "key-1")  # the load balancer's retry, on the other replica
        assert first.status_code == again.status_code == 200, (first.text, again.text)
        assert first.json()["reply"] == "first answer"
        assert again.content == first.content
        assert "idempotent-replayed" not in first.headers
        assert again.headers["idempotent-replayed"] == "true"
        assert user_prompts(mock_llm) == [["hello"]]  # one turn at the model

        reused = chat(b.url, "something else", "key-1")
        assert reused.status_code == 422, reused.text
        assert reused.json()["error"]["code"] == "idempotency_key_reused"
        other_session = chat(a.url, "hello", "key-1", session="s2")  # keys are per session
        assert other_session.status_code == 200 and other_session.json()["session"] == "s2"

        # The OpenAI endpoint: the same completion (same id) again, one more turn only.
        body = {"model": "rustyclaw/main", "user": "s3", "messages": [{"role": "user", "content": "hi"}]}
        completions = [httpx.post(f"{g.url}/v1/chat/completions", json=body, timeout=BOUND,
                                  headers={**AUTH, "Idempotency-Key": "key-2"}) for g in (b, a)]
        assert [r.status_code for r in completions] == [200, 200], [r.text for r in completions]
        assert completions[1].content == completions[0].content
        assert completions[1].headers["idempotent-replayed"] == "true"
        assert len(user_prompts(mock_llm)) == 3
        assert anyio.run(stored, schema_dsn).count(("user", "hello")) == 2  # s1 once, s2 once
    finally:
        stop_all(gateways)


@pytest.mark.postgres
def test_a_retry_after_the_replica_holding_the_turn_was_killed_finishes_it_once(
    tmp_path: Path, mock_llm: LLMockServer, schema_dsn: str
) -> None:
    # a's turn hangs; only a's model: llmock spends a `times` only once a request ends, and the
    # killed replica's stalled request would not end before b's arrives.
    mock_llm.stream_fault("stall", after_chunks=0, stall_seconds=120, times=None, model="m-a")
    mock_llm.reply("finished by b", times=None)
    gateways = replicas(tmp_path, mock_llm, schema_dsn)
    a, b = gateways
    try:
        a.start()
        b.start()
        failed: list[BaseException] = []

        async def first_attempt() -> None:
            try:
                await anyio.to_thread.run_sync(chat, a.url, "hello", "key-9")
            except httpx.TransportError as exc:  # a dies under the request
                failed.append(exc)

        async def kill_a_mid_turn() -> None:
            async with anyio.create_task_group() as tg:
                tg.start_soon(first_attempt)
                await anyio.to_thread.run_sync(
                    lambda: wait_for("a asked the model", lambda: model_asked(a), a))
                assert a.process is not None
                a.process.send_signal(signal.SIGKILL)

        anyio.run(kill_a_mid_turn)
        assert failed, "the first attempt was answered although a was killed mid-turn"
        retry = chat(b.url, "hello", "key-9")
        assert retry.status_code == 200, retry.text + b.log()
        assert retry.json()["reply"] == "finished by b"
        # b finished the stored turn (a's log shows a asked once): one request from b, whose prompt
        # holds the user message once, not a second copy.
        assert a.log_path.read_text(errors="replace").count("llm request provider=") == 1
        assert user_prompts(mock_llm, "m-b") == [["hello"]]
        assert anyio.run(stored, schema_dsn) == [("user", "hello"), ("assistant", "finished by b")]
        replay = chat(b.url, "hello", "key-9")
        assert replay.content == retry.content and replay.headers["idempotent-replayed"] == "true"
        assert len(user_prompts(mock_llm, "m-b")) == 1
    finally:
        stop_all(gateways)


def test_a_single_sqlite_instance_answers_a_retry_after_the_client_gave_up_once(
    tmp_path: Path, mock_llm: LLMockServer
) -> None:
    mock_llm.stream_fault("stall", after_chunks=0, stall_seconds=120, times=1)
    mock_llm.reply("the answer", times=None)
    single = gateway(tmp_path, "one", mock_llm, {"backend": "sqlite"})
    try:
        single.start()

        async def give_up_mid_turn() -> None:
            async with httpx.AsyncClient(timeout=BOUND) as client, anyio.create_task_group() as tg:
                tg.start_soon(lambda: client.post(f"{single.url}/api/chat", json={"message": "hello"},
                                                  headers={**AUTH, "Idempotency-Key": "key-s"}))
                await anyio.to_thread.run_sync(
                    lambda: wait_for("the model was asked", lambda: model_asked(single), single))
                tg.cancel_scope.cancel()  # the client gives up: its connection closes mid-turn

        anyio.run(give_up_mid_turn)
        # No session named: the key picks it, so the retry lands in the same session.
        retry = httpx.post(f"{single.url}/api/chat", json={"message": "hello", "clientMessageId": "key-s"},
                           headers=AUTH, timeout=BOUND)
        assert retry.status_code == 200, retry.text + single.log()
        assert retry.json()["reply"] == "the answer"
        again = httpx.post(f"{single.url}/api/chat", json={"message": "hello"}, timeout=BOUND,
                           headers={**AUTH, "Idempotency-Key": "key-s"})
        assert again.content == retry.content and again.headers["idempotent-replayed"] == "true"
        assert user_prompts(mock_llm) == [["hello"], ["hello"]]  # stored once, finished once
        reused = httpx.post(f"{single.url}/api/chat", json={"message": "bye"}, timeout=BOUND,
                            headers={**AUTH, "Idempotency-Key": "key-s"})
        assert reused.status_code == 422
    finally:
        stop_all([single])
