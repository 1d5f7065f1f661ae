"""The ASGI app in-process (httpx.ASGITransport): routes, auth, OpenAI shapes, validation, error mapping."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import msgspec
import pytest

from rustyclaw.adapters.http.app import create_app
from rustyclaw.adapters.http.settings import HttpSettings
from rustyclaw.adapters.http.testing import ScriptedGateway
from rustyclaw.domain.errors import BusyError, InvalidInputError, LLMUnavailableError
from rustyclaw.domain.events import ToolActivity

pytestmark = pytest.mark.anyio

TOKEN = "s3cret-token"
CHAT = "/v1/chat/completions"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def settings(**overrides: Any) -> HttpSettings:
    values: dict[str, Any] = {
        "openai_enabled": True,
        "agent_ids": ["main", "ops"],
        "default_agent": "main",
        "max_message_chars": 100,
        "max_body_bytes": 4096,
    }
    values.update(overrides)
    return HttpSettings(**values)


@asynccontextmanager
async def client(
    gateway: ScriptedGateway, config: HttpSettings | None = None, host: str = "127.0.0.1:18789"
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(gateway, config or settings())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=f"http://{host}") as http:
        yield http


def user_body(text: str = "hi", **fields: Any) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}], **fields}


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert isinstance(error["message"], str) and error["message"]
    if code is not None:
        assert error["code"] == code
    return dict(error)


def sse_events(body: str) -> list[str]:
    return [line[len("data: ") :] for line in body.split("\n") if line.startswith("data: ")]


# --- health -----------------------------------------------------------------------------------------


async def test_healthz_is_ok_and_readyz_follows_the_gateway() -> None:
    gateway = ScriptedGateway()
    async with client(gateway) as http:
        assert (await http.get("/healthz")).json() == {"status": "ok"}
        assert (await http.get("/readyz")).status_code == 200
        gateway.is_ready = False
        not_ready = await http.get("/readyz")
        assert not_ready.status_code == 503
        assert (await http.get("/healthz")).status_code == 200


async def test_unknown_route_is_404_json_and_wrong_method_is_405_with_allow() -> None:
    async with client(ScriptedGateway()) as http:
        assert_error(await http.get("/nope"), 404, "not_found")
        wrong = await http.get(CHAT)
        assert_error(wrong, 405, "method_not_allowed")
        assert wrong.headers["allow"] == "POST"


async def test_openai_routes_are_absent_unless_enabled() -> None:
    async with client(ScriptedGateway(), settings(openai_enabled=False)) as http:
        assert_error(await http.post(CHAT, json=user_body()), 404)
        assert_error(await http.get("/v1/models"), 404)
        assert (await http.post("/api/chat", json={"message": "hi"})).status_code == 200


# --- auth ---------------------------------------------------------------------------------------------


async def test_bearer_token_is_required_when_configured() -> None:
    gateway = ScriptedGateway()
    async with client(gateway, settings(token=TOKEN)) as http:
        missing = await http.post(CHAT, json=user_body())
        error = assert_error(missing, 401, "missing_api_key")
        assert error["type"] == "authentication_error"
        assert missing.headers["www-authenticate"].startswith("Bearer")
        assert_error(await http.post(CHAT, json=user_body(), headers={"Authorization": "Bearer nope"}), 401)
        assert_error(await http.post("/api/chat", json={"message": "hi"}), 401)
        assert_error(await http.get("/v1/models"), 401)
        assert gateway.messages == []
        good = {"Authorization": f"Bearer {TOKEN}"}
        assert (await http.post(CHAT, json=user_body(), headers=good)).status_code == 200
        assert (await http.post("/api/chat", json={"message": "hi"}, headers=good)).status_code == 200
        assert (await http.get("/healthz")).status_code == 200


async def test_tokenless_server_refuses_foreign_hosts_and_cross_origin_posts() -> None:
    async with client(ScriptedGateway(), host="evil.example:18789") as http:
        assert (await http.get("/healthz")).status_code == 200
        assert_error(await http.post("/api/chat", json={"message": "hi"}), 403, "host_not_allowed")
    async with client(ScriptedGateway()) as http:
        foreign = {"Origin": "http://evil.example"}
        assert_error(await http.post("/api/chat", json={"message": "hi"}, headers=foreign), 403, "bad_origin")
        same = {"Origin": "http://127.0.0.1:18789"}
        assert (await http.post("/api/chat", json={"message": "hi"}, headers=same)).status_code == 200


async def test_with_a_token_any_host_may_call() -> None:
    async with client(ScriptedGateway(), settings(token=TOKEN), host="gateway.lan:18789") as http:
        response = await http.post(
            "/api/chat", json={"message": "hi"}, headers={"Authorization": f"Bearer {TOKEN}"}
        )
        assert response.status_code == 200


# --- OpenAI: non-stream -----------------------------------------------------------------------------


async def test_completion_has_the_openai_shape() -> None:
    async with client(ScriptedGateway(deltas=["Hel", "lo!"])) as http:
        response = await http.post(CHAT, json=user_body(model="rustyclaw/ops", user="alice"))
    assert response.status_code == 200
    body = response.json()
    assert body["id"].startswith("chatcmpl-")
    assert body["object"] == "chat.completion"
    assert isinstance(body["created"], int)
    assert body["model"] == "rustyclaw/ops"
    assert body["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hello!"},
            "logprobs": None,
            "finish_reason": "stop",
        }
    ]
    assert body["usage"] == {"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9}


async def test_request_becomes_an_inbound_message_of_the_web_channel() -> None:
    gateway = ScriptedGateway()
    history = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "old question"},
        {"role": "assistant", "content": "old answer"},
        {"role": "user", "content": [{"type": "text", "text": "new"}, {"type": "text", "text": "question"}]},
    ]
    async with client(gateway) as http:
        await http.post(CHAT, json={"messages": history, "user": "alice@example.com", "model": "ops"})
        await http.post(CHAT, json=user_body("second"))
    first, second = gateway.messages
    assert first.text == "new\nquestion"
    assert (first.channel, first.chat_kind) == ("web", "direct")
    assert (first.peer_id, first.sender_id, first.session_hint) == ("alice@example.com",) * 3
    assert first.agent_hint == "ops"
    assert first.received_at > 0
    assert (second.peer_id, second.sender_id, second.session_hint) == ("anonymous", "anonymous", None)
    assert second.agent_hint == "main"


@pytest.mark.parametrize(
    ("model", "agent"),
    [("rustyclaw/ops", "ops"), ("ops", "ops"), ("rustyclaw/main", "main"), ("gpt-4o", "main"), ("", "main")],
)
async def test_model_names_an_agent(model: str, agent: str) -> None:
    gateway = ScriptedGateway()
    async with client(gateway) as http:
        response = await http.post(CHAT, json=user_body(model=model))
    assert response.json()["model"] == f"rustyclaw/{agent}"
    assert gateway.messages[0].agent_hint == agent


async def test_an_unknown_rustyclaw_model_is_404() -> None:
    gateway = ScriptedGateway()
    async with client(gateway) as http:
        error = assert_error(
            await http.post(CHAT, json=user_body(model="rustyclaw/ghost")), 404, "model_not_found"
        )
    assert error["param"] == "model"
    assert gateway.messages == []


async def test_image_parts_become_attachments() -> None:
    gateway = ScriptedGateway()
    content = [
        {"type": "text", "text": "what is this"},
        {"type": "image_url", "image_url": {"url": "http://x/a.png"}},
    ]
    async with client(gateway) as http:
        await http.post(CHAT, json={"messages": [{"role": "user", "content": content}]})
    (attachment,) = gateway.messages[0].attachments
    assert (attachment.kind, attachment.url) == ("image", "http://x/a.png")


async def test_models_lists_the_agents() -> None:
    async with client(ScriptedGateway()) as http:
        body = (await http.get("/v1/models")).json()
    assert [model["id"] for model in body["data"]] == ["rustyclaw/main", "rustyclaw/ops"]


# --- OpenAI: validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "status", "code", "param"),
    [
        (b"{not json", 400, "invalid_json", None),
        (b"{}", 400, "invalid_request", "messages"),
        (b'{"messages": "hi"}', 400, "invalid_request", "messages"),
        (b'{"messages": [{"role": "user", "content": 5}]}', 400, "invalid_request", "messages[0].content"),
        (b'{"messages": [{"content": "hi"}]}', 400, "invalid_request", "messages[0].role"),
        (
            b'{"messages": [{"role": "user", "content": "hi"}], "stream": "yes"}',
            400,
            "invalid_request",
            "stream",
        ),
        (b'{"messages": [{"role": "system", "content": "hi"}]}', 400, None, "messages"),
        (b'{"messages": [{"role": "user", "content": "  "}]}', 400, "empty_message", "messages[0].content"),
        (b'{"messages": [{"role": "user", "content": null}]}', 400, "empty_message", "messages[0].content"),
        (
            b'{"messages": [{"role": "user", "content": "' + b"x" * 101 + b'"}]}',
            413,
            "message_too_long",
            "messages[0].content",
        ),
        (
            b'{"messages": [{"role": "user", "content": [{"type": "audio"}]}]}',
            400,
            None,
            "messages[0].content[0]",
        ),
        (b'{"messages": [{"role": "user", "content": "hi"}], "user": "a:b"}', 400, "invalid_session", "user"),
    ],
)
async def test_bad_requests_name_the_field(
    body: bytes, status: int, code: str | None, param: str | None
) -> None:
    gateway = ScriptedGateway()
    async with client(gateway) as http:
        response = await http.post(CHAT, content=body, headers={"content-type": "application/json"})
    error = assert_error(response, status, code)
    assert error["param"] == param
    assert gateway.messages == []


async def test_a_body_over_the_hard_cap_is_413() -> None:
    async with client(ScriptedGateway()) as http:
        response = await http.post(CHAT, content=b"x" * 5000)
        assert_error(response, 413, "request_too_large")
        assert (await http.get("/healthz")).status_code == 200


@pytest.mark.parametrize(
    ("raised", "status", "code"),
    [
        (InvalidInputError("text too long for this model"), 400, "invalid_input"),
        (BusyError("session busy"), 409, "session_busy"),
        (LLMUnavailableError("model server down"), 502, "llm_error"),
        (RuntimeError("bug"), 500, "internal_error"),
    ],
)
async def test_gateway_errors_map_to_statuses(raised: Exception, status: int, code: str) -> None:
    gateway = ScriptedGateway(raises=raised)
    async with client(gateway) as http:
        error = assert_error(await http.post(CHAT, json=user_body()), status, code)
        if status == 400:
            assert error["message"] == "text too long for this model"
        gateway.raises = None
        assert (await http.post(CHAT, json=user_body())).status_code == 200


async def test_reply_with_error_is_502_with_its_text_and_dropped_is_403() -> None:
    gateway = ScriptedGateway(reply_error="the model server is unreachable")
    async with client(gateway) as http:
        error = assert_error(await http.post(CHAT, json=user_body()), 502, "turn_failed")
        assert error["message"] == "the model server is unreachable"
        gateway.reply_error, gateway.drop = None, True
        assert_error(await http.post(CHAT, json=user_body()), 403, "message_dropped")


# --- OpenAI: stream -----------------------------------------------------------------------------------


async def test_stream_sends_chunks_a_finish_and_done() -> None:
    gateway = ScriptedGateway(
        deltas=["Hel", "lo!"], tools=[ToolActivity(name="clock", call_id="c1", status="done")]
    )
    async with client(gateway) as http:
        response = await http.post(CHAT, json=user_body(stream=True, stream_options={"include_usage": True}))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert ": tool clock done" in response.text
    events = sse_events(response.text)
    assert events[-1] == "[DONE]"
    chunks = [msgspec.json.decode(event) for event in events[:-1]]
    assert {chunk["object"] for chunk in chunks} == {"chat.completion.chunk"}
    assert len({chunk["id"] for chunk in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    content = "".join(chunk["choices"][0]["delta"].get("content", "") for chunk in chunks if chunk["choices"])
    assert content == "Hello!"
    finals = [chunk for chunk in chunks if chunk["choices"] and chunk["choices"][0]["finish_reason"]]
    assert [final["choices"][0]["finish_reason"] for final in finals] == ["stop"]
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == {"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9}


async def test_stream_without_deltas_sends_the_reply_text() -> None:
    gateway = ScriptedGateway(deltas=[], reply_text="Started a new session.", command="new")
    async with client(gateway) as http:
        response = await http.post(CHAT, json=user_body("/new", stream=True))
    chunks = [msgspec.json.decode(event) for event in sse_events(response.text)[:-1]]
    assert (
        "".join(chunk["choices"][0]["delta"].get("content", "") for chunk in chunks)
        == "Started a new session."
    )
    assert "usage" not in chunks[-1]


async def test_stream_failure_is_an_error_event_then_done() -> None:
    gateway = ScriptedGateway(deltas=["partial"], reply_error="the model stopped answering")
    async with client(gateway) as http:
        response = await http.post(CHAT, json=user_body(stream=True))
        events = sse_events(response.text)
        assert events[-1] == "[DONE]"
        error = msgspec.json.decode(events[-2])["error"]
        assert error["message"] == "the model stopped answering"
        assert error["code"] == "turn_failed"

        gateway.reply_error, gateway.raises = None, InvalidInputError("bad attachment")
        events = sse_events((await http.post(CHAT, json=user_body(stream=True))).text)
        assert msgspec.json.decode(events[-2])["error"]["message"] == "bad attachment"


async def test_stream_validation_errors_come_before_the_stream() -> None:
    async with client(ScriptedGateway()) as http:
        assert_error(await http.post(CHAT, json={"stream": True, "messages": []}), 400)


# --- page chat API ----------------------------------------------------------------------------------


async def test_api_chat_makes_and_keeps_a_session() -> None:
    gateway = ScriptedGateway()
    async with client(gateway) as http:
        first = (await http.post("/api/chat", json={"message": "hi"})).json()
        assert first["reply"] == "Hello!"
        assert first["model"] == "scripted-model"
        assert first["usage"] == {"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9}
        assert re.fullmatch(r"web-[0-9a-f]{16}", first["session"])
        second = (await http.post("/api/chat", json={"message": "again", "session": first["session"]})).json()
    assert second["session"] == first["session"]
    for message in gateway.messages:
        assert (message.peer_id, message.sender_id, message.session_hint) == (first["session"],) * 3
        assert message.channel == "web"
        assert message.agent_hint is None


async def test_api_chat_validates() -> None:
    async with client(ScriptedGateway()) as http:
        assert_error(await http.post("/api/chat", json={"session": "x"}), 400, "invalid_request")
        assert_error(
            await http.post("/api/chat", json={"message": "hi", "session": "a b"}), 400, "invalid_session"
        )
        assert_error(await http.post("/api/chat", json={"message": "x" * 101}), 413, "message_too_long")
        assert_error(
            await http.post("/api/chat", json={"message": "hi", "agent": "ghost"}), 404, "agent_not_found"
        )
        assert_error(await http.post("/api/chat", content=b'{"message'), 400, "invalid_json")


# --- page ---------------------------------------------------------------------------------------------


async def test_pages_are_served_with_a_strict_csp_and_no_inline_code() -> None:
    async with client(ScriptedGateway()) as http:
        for path in ("/", "/control"):
            response = await http.get(path)
            assert response.status_code == 200
            assert response.headers["content-type"] == "text/html; charset=utf-8"
            policy = response.headers["content-security-policy"]
            assert "default-src 'none'" in policy and "script-src 'self';" in policy
            assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
            assert re.search(r"<script>", response.text) is None  # no inline script at all
            assert "https://" not in response.text  # no CDN: everything is served from the package
        chat = await http.get("/static/chat.js")
        assert chat.headers["content-type"] == "text/javascript; charset=utf-8"
        assert "new WebSocket(" in chat.text and "/api/ws" in chat.text
        assert "innerHTML" not in chat.text and "innerHTML" not in (await http.get("/static/common.js")).text


async def test_vendored_libraries_manifest_and_service_worker_are_served() -> None:
    async with client(ScriptedGateway()) as http:
        for path, kind in (
            ("/static/vendor/marked.umd.js", "text/javascript"),
            ("/static/vendor/purify.min.js", "text/javascript"),
            ("/static/vendor/highlight.min.js", "text/javascript"),
            ("/static/vendor/marked.LICENSE.txt", "text/plain"),
            ("/static/icons/icon-192.png", "image/png"),
            ("/manifest.webmanifest", "application/manifest+json"),
            ("/sw.js", "text/javascript"),
        ):
            response = await http.get(path)
            assert response.status_code == 200, path
            assert response.headers["content-type"].startswith(kind), path
        assert (await http.get("/static/../settings.py")).status_code == 404
        assert (await http.get("/static/index.html")).status_code == 404
        manifest = (await http.get("/manifest.webmanifest")).json()
        assert manifest["start_url"] == "/" and manifest["display"] == "standalone"


async def test_tokenless_pages_refuse_a_foreign_host() -> None:
    async with client(ScriptedGateway(), host="evil.example:18789") as http:
        assert_error(await http.get("/"), 403, "host_not_allowed")
        assert (await http.get("/healthz")).status_code == 200
