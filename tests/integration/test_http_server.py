"""The real granian embedded server on a free port, driven over the wire with httpx and websockets."""

from __future__ import annotations

import functools
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
import msgspec
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from rustyclaw.adapters.http.app import create_app
from rustyclaw.adapters.http.server import HttpServer
from rustyclaw.adapters.http.settings import HttpSettings
from rustyclaw.adapters.http.testing import ScriptedGateway
from rustyclaw.domain.errors import ConfigError
from rustyclaw.domain.events import ToolActivity

pytestmark = pytest.mark.anyio

TOKEN = "integration-token"
CHAT = "/v1/chat/completions"
# A guard against hangs, not a timing assertion: every wait below normally ends in milliseconds.
GUARD = 10


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@asynccontextmanager
async def serving(
    gateway: ScriptedGateway, token: str | None = None, **server: Any
) -> AsyncIterator[HttpServer]:
    config = HttpSettings(token=token, openai_enabled=True, agent_ids=["main"], default_agent="main")
    http_server = HttpServer(create_app(gateway, config), "127.0.0.1", 0, token=token, **server)
    ready = anyio.Event()
    async with anyio.create_task_group() as group:
        group.start_soon(http_server.serve, ready)
        with anyio.fail_after(GUARD):
            await ready.wait()
        try:
            yield http_server
        finally:
            await http_server.aclose()


def ws_url(server: HttpServer, query: str = "") -> str:
    return f"ws://127.0.0.1:{server.port}/api/ws{query}"


async def recv(ws: ClientConnection) -> dict[str, Any]:
    with anyio.fail_after(GUARD):
        frame: dict[str, Any] = msgspec.json.decode(await ws.recv())
    return frame


async def send(ws: ClientConnection, frame: dict[str, Any]) -> None:
    await ws.send(msgspec.json.encode(frame).decode())


async def recv_until(ws: ClientConnection, *types: str) -> list[dict[str, Any]]:
    frames = [await recv(ws)]
    while frames[-1]["type"] not in types:
        frames.append(await recv(ws))
    return frames


# --- HTTP ---------------------------------------------------------------------------------------------


async def test_health_ready_and_page_over_the_wire() -> None:
    gateway = ScriptedGateway()
    gateway.is_ready = False
    async with serving(gateway) as server, httpx.AsyncClient(base_url=server.url) as http:
        assert server.port > 0
        assert (await http.get("/healthz")).json() == {"status": "ok"}
        assert (await http.get("/readyz")).status_code == 503
        gateway.is_ready = True
        assert (await http.get("/readyz")).status_code == 200
        page = await http.get("/")
        assert page.status_code == 200
        assert '<script src="/static/chat.js"' in page.text
        assert "new WebSocket(" in (await http.get("/static/chat.js")).text
        assert (await http.get("/missing")).json()["error"]["code"] == "not_found"


async def test_auth_over_the_wire() -> None:
    async with (
        serving(ScriptedGateway(), token=TOKEN) as server,
        httpx.AsyncClient(base_url=server.url) as http,
    ):
        body = {"messages": [{"role": "user", "content": "hi"}]}
        refused = await http.post(CHAT, json=body)
        assert refused.status_code == 401
        assert refused.json()["error"]["type"] == "authentication_error"
        accepted = await http.post(CHAT, json=body, headers={"Authorization": f"Bearer {TOKEN}"})
        assert accepted.status_code == 200
        assert accepted.json()["choices"][0]["message"]["content"] == "Hello!"


async def test_stream_over_the_wire() -> None:
    gateway = ScriptedGateway(deltas=["one ", "two ", "three"])
    body = {"messages": [{"role": "user", "content": "count"}], "stream": True, "user": "u1"}
    async with (
        serving(gateway) as server,
        httpx.AsyncClient(base_url=server.url) as http,
        http.stream("POST", CHAT, json=body) as response,
    ):
        assert response.headers["content-type"].startswith("text/event-stream")
        data = [line[6:] async for line in response.aiter_lines() if line.startswith("data: ")]
    assert data[-1] == "[DONE]"
    chunks = [msgspec.json.decode(item) for item in data[:-1]]
    assert "".join(chunk["choices"][0]["delta"].get("content", "") for chunk in chunks) == "one two three"
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert gateway.messages[0].session_hint == "u1"


async def test_a_client_leaving_a_stream_cancels_the_turn() -> None:
    gateway = ScriptedGateway(deltas=["partial"], hang=True)
    body = {"messages": [{"role": "user", "content": "long job"}], "stream": True}
    async with serving(gateway) as server, httpx.AsyncClient(base_url=server.url) as http:
        async with http.stream("POST", CHAT, json=body) as response:
            async for line in response.aiter_lines():
                if '"content":"partial"' in line:
                    break
        with anyio.fail_after(GUARD):
            await gateway.cancelled.wait()
        assert (await http.get("/healthz")).status_code == 200


async def test_a_client_leaving_a_plain_request_cancels_the_turn() -> None:
    gateway = ScriptedGateway(hang=True)
    async with serving(gateway) as server, httpx.AsyncClient(base_url=server.url) as http:
        async with anyio.create_task_group() as group:
            group.start_soon(functools.partial(http.post, "/api/chat", json={"message": "hi"}))
            with anyio.fail_after(GUARD):
                await gateway.started.wait()
            assert not gateway.cancelled.is_set()
            group.cancel_scope.cancel()
        with anyio.fail_after(GUARD):
            await gateway.cancelled.wait()


async def test_closing_the_server_cancels_a_hanging_request_with_503() -> None:
    gateway = ScriptedGateway(hang=True)
    responses: list[httpx.Response] = []
    async with (
        serving(gateway, shutdown_timeout=0.2) as server,
        httpx.AsyncClient(base_url=server.url) as http,
    ):

        async def call() -> None:
            responses.append(await http.post("/api/chat", json={"message": "hi"}))

        async with anyio.create_task_group() as group:
            group.start_soon(call)
            with anyio.fail_after(GUARD):
                await gateway.started.wait()
                await server.aclose()
    assert gateway.cancelled.is_set()
    assert responses[0].status_code == 503
    assert responses[0].json()["error"]["code"] == "shutting_down"


async def test_a_port_in_use_is_a_config_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = HttpServer(create_app(ScriptedGateway(), HttpSettings()), "127.0.0.1", port)
        with pytest.raises(ConfigError, match=r"cannot listen on 127\.0\.0\.1"):
            await server.serve()


async def test_serve_can_be_cancelled_and_frees_the_port() -> None:
    server = HttpServer(create_app(ScriptedGateway(), HttpSettings()), "127.0.0.1", 0)
    ready = anyio.Event()
    async with anyio.create_task_group() as group:
        group.start_soon(server.serve, ready)
        await ready.wait()
        group.cancel_scope.cancel()
    with socket.socket() as again:
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        again.bind(("127.0.0.1", server.port))


# --- WebSocket ----------------------------------------------------------------------------------------


async def test_websocket_streams_a_turn_and_keeps_the_session() -> None:
    tool = ToolActivity(name="read_file", call_id="c1", status="started", detail="notes.md")
    gateway = ScriptedGateway(deltas=["Hel", "lo!"], tools=[tool])
    async with serving(gateway) as server, connect(ws_url(server)) as ws:
        assert await recv(ws) == {"type": "ready"}
        await send(ws, {"type": "message", "text": "hi", "id": "m1"})
        frames = await recv_until(ws, "reply", "error")
        assert [frame["type"] for frame in frames] == ["tool", "delta", "delta", "reply"]
        assert frames[0] == {
            "type": "tool",
            "id": "m1",
            "name": "read_file",
            "call_id": "c1",
            "status": "started",
            "detail": "notes.md",
        }
        assert "".join(frame["text"] for frame in frames if frame["type"] == "delta") == "Hello!"
        reply = frames[-1]
        assert (reply["id"], reply["text"], reply["model"]) == ("m1", "Hello!", "scripted-model")
        session = reply["session"]
        await send(ws, {"type": "message", "text": "/new", "session": session, "id": "m2"})
        assert (await recv_until(ws, "reply"))[-1]["session"] == session
    assert [message.session_hint for message in gateway.messages] == [session, session]
    assert gateway.messages[1].text == "/new"


async def test_websocket_stop_cancels_the_turn() -> None:
    gateway = ScriptedGateway(deltas=["thinking"], hang=True)
    async with serving(gateway) as server, connect(ws_url(server)) as ws:
        await recv(ws)
        await send(ws, {"type": "message", "text": "long job", "id": "m1"})
        assert (await recv(ws))["type"] == "delta"
        await send(ws, {"type": "message", "text": "meanwhile", "id": "m2"})
        assert await recv(ws) == {
            "type": "error",
            "id": "m2",
            "code": "busy",
            "message": "a reply is still being written",
        }
        await send(ws, {"type": "stop"})
        assert await recv(ws) == {"type": "stopped", "id": "m1"}
        assert gateway.cancelled.is_set()
        gateway.hang = False
        await send(ws, {"type": "message", "text": "again", "id": "m3"})
        assert (await recv_until(ws, "reply"))[-1]["id"] == "m3"


async def test_closing_the_websocket_cancels_the_turn() -> None:
    gateway = ScriptedGateway(deltas=["thinking"], hang=True)
    async with serving(gateway) as server:
        async with connect(ws_url(server)) as ws:
            await recv(ws)
            await send(ws, {"type": "message", "text": "long job"})
            assert (await recv(ws))["type"] == "delta"
        with anyio.fail_after(GUARD):
            await gateway.cancelled.wait()


async def test_websocket_reports_bad_frames_and_gateway_errors_and_stays_open() -> None:
    gateway = ScriptedGateway(reply_error="model unreachable")
    async with serving(gateway) as server, connect(ws_url(server)) as ws:
        await recv(ws)
        await ws.send("{nope")
        assert (await recv(ws))["code"] == "invalid_frame"
        await send(ws, {"type": "dance"})
        assert (await recv(ws))["code"] == "invalid_frame"
        await send(ws, {"type": "message", "text": "", "id": "e"})
        assert (await recv(ws))["code"] == "empty_message"
        await send(ws, {"type": "message", "text": "hi", "id": "f", "session": "s1"})
        failed = (await recv_until(ws, "error"))[-1]
        assert failed == {
            "type": "error",
            "id": "f",
            "code": "turn_failed",
            "message": "model unreachable",
            "session": "s1",
        }
        await send(ws, {"type": "ping"})
        assert await recv(ws) == {"type": "pong"}


async def test_websocket_auth_by_first_frame() -> None:
    async with serving(ScriptedGateway(), token=TOKEN) as server:
        async with connect(ws_url(server)) as ws:
            await send(ws, {"type": "auth", "token": TOKEN})
            assert await recv(ws) == {"type": "ready"}
            await send(ws, {"type": "message", "text": "hi"})
            assert (await recv_until(ws, "reply"))[-1]["text"] == "Hello!"
        async with connect(ws_url(server)) as ws:
            await send(ws, {"type": "auth", "token": "wrong"})
            assert (await recv(ws))["code"] == "unauthorized"
            with pytest.raises(ConnectionClosed) as closed:
                await recv(ws)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
        async with connect(ws_url(server)) as ws:
            await send(ws, {"type": "message", "text": "hi"})
            assert (await recv(ws))["code"] == "unauthorized"


async def test_websocket_auth_by_header_or_query() -> None:
    gateway = ScriptedGateway()
    async with serving(gateway, token=TOKEN) as server:
        async with connect(ws_url(server), additional_headers={"Authorization": f"Bearer {TOKEN}"}) as ws:
            assert await recv(ws) == {"type": "ready"}
        async with connect(ws_url(server, f"?token={TOKEN}")) as ws:
            assert await recv(ws) == {"type": "ready"}
        with pytest.raises(InvalidStatus) as refused:
            async with connect(ws_url(server, "?token=wrong")):
                pass
        assert refused.value.response.status_code == 403
    assert gateway.messages == []


async def test_websocket_from_a_foreign_origin_is_refused_without_a_token() -> None:
    async with serving(ScriptedGateway()) as server:
        with pytest.raises(InvalidStatus):
            async with connect(ws_url(server), origin="http://evil.example"):
                pass
        async with connect(ws_url(server), origin=f"http://127.0.0.1:{server.port}") as ws:
            assert await recv(ws) == {"type": "ready"}
