"""The HTTP surface against hostile clients, over real sockets on granian: half-open connections,
dribbled bodies, a connection flood, deeply nested JSON (HTTP, WebSocket, webhook) and the voice
endpoint's browser checks."""

from __future__ import annotations

import functools
import json
import socket
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
import msgspec
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from rustyclaw.adapters.channels.webhook_asgi import webhook_app
from rustyclaw.adapters.http.app import create_app
from rustyclaw.adapters.http.mounts import with_mounts
from rustyclaw.adapters.http.server import HttpServer
from rustyclaw.adapters.http.settings import HttpSettings
from rustyclaw.adapters.http.testing import ScriptedGateway
from rustyclaw.adapters.http.voice_api import VOICE_PATH, voice_app

pytestmark = pytest.mark.anyio
# A guard against hangs, not a timing assertion.
GUARD = 15
DEEP = 5000  # levels of nesting: past msgspec's and json's limit (the interpreter's recursion limit)
WEBHOOK = "/channels/test/webhook"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def _json_webhook(headers: Mapping[str, str], body: bytes) -> tuple[int, bytes]:
    json.loads(body)  # what the Telegram and WhatsApp webhooks do with a body
    return 200, b'{"ok":true}'


@asynccontextmanager
async def serving(gateway: ScriptedGateway, **server: Any) -> AsyncIterator[HttpServer]:
    config = HttpSettings(openai_enabled=True, agent_ids=["main"], default_agent="main")
    app = with_mounts(create_app(gateway, config), {
        VOICE_PATH: voice_app(gateway, config), WEBHOOK: webhook_app(_json_webhook),
    })
    http_server = HttpServer(app, "127.0.0.1", 0, **server)
    ready = anyio.Event()
    async with anyio.create_task_group() as group:
        group.start_soon(http_server.serve, ready)
        with anyio.fail_after(GUARD):
            await ready.wait()
        try:
            yield http_server
        finally:
            await http_server.aclose()


def _read_until_closed(sock: socket.socket) -> bytes:
    sock.settimeout(GUARD)
    data = b""
    while chunk := sock.recv(4096):
        data += chunk
    return data


async def test_half_open_connections_are_dropped_after_the_header_timeout() -> None:
    async with serving(ScriptedGateway(), header_timeout=0.5) as server:
        sockets = []
        for _ in range(40):
            sock = socket.create_connection(("127.0.0.1", server.port))
            sock.sendall(b"POST /api/chat HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: app")  # never finished
            sockets.append(sock)
        try:
            for sock in sockets:
                answer = await anyio.to_thread.run_sync(_read_until_closed, sock)
                # The server closed it (hyper may say 408 first); no request ever reached the app.
                assert answer == b"" or answer.startswith(b"HTTP/1.1 408")
            assert server.in_flight == 0
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as http:
                assert (await http.get("/healthz")).status_code == 200
        finally:
            for sock in sockets:
                sock.close()


async def test_a_body_that_never_arrives_is_answered_408() -> None:
    async with serving(ScriptedGateway(), body_timeout=0.5) as server:
        sock = socket.create_connection(("127.0.0.1", server.port))
        try:
            sock.sendall(b"POST /api/chat HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 100\r\n\r\n{\"message\":" % server.port)
            sock.settimeout(GUARD)
            answer = await anyio.to_thread.run_sync(sock.recv, 4096)
        finally:
            sock.close()
        assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
        assert b"request_timeout" in answer


async def test_requests_over_the_connection_cap_get_503_at_once() -> None:
    gateway = ScriptedGateway(hang=True)
    async with serving(gateway, max_connections=2) as server:
        url = f"http://127.0.0.1:{server.port}"
        async with httpx.AsyncClient(base_url=url, timeout=GUARD) as http, anyio.create_task_group() as group:
            for n in range(2):
                gateway.reset_events()
                group.start_soon(functools.partial(http.post, "/api/chat", json={"message": f"hang {n}"}))
                with anyio.fail_after(GUARD):
                    await gateway.started.wait()
            async with httpx.AsyncClient(base_url=url, timeout=GUARD) as other:
                refused = await other.post("/api/chat", json={"message": "third"})
                assert refused.status_code == 503
                assert refused.json()["error"]["code"] == "too_many_requests"
                assert refused.headers["retry-after"] == "1"
                with pytest.raises(InvalidStatus) as refused_ws:
                    async with connect(f"ws://127.0.0.1:{server.port}/api/ws", open_timeout=GUARD):
                        pass
                assert refused_ws.value.response.status_code == 403
            group.cancel_scope.cancel()
        gateway.hang = False
        async with httpx.AsyncClient(base_url=url, timeout=GUARD) as http:
            with anyio.fail_after(GUARD):
                while server.in_flight:  # noqa: ASYNC110 - the server's own count; no event to wait on
                    await anyio.sleep(0.01)
            assert (await http.post("/api/chat", json={"message": "after"})).status_code == 200


async def test_deeply_nested_json_is_a_400_with_a_message_everywhere() -> None:
    deep = b'{"message": "hi", "x": ' + b"[" * DEEP + b"]" * DEEP + b"}"
    async with serving(ScriptedGateway()) as server, httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{server.port}", timeout=GUARD
    ) as http:
        for path in ("/api/chat", "/v1/chat/completions"):
            response = await http.post(path, content=deep, headers={"content-type": "application/json"})
            assert response.status_code == 400, (path, response.text)
            error = response.json()["error"]
            assert error["code"] == "json_too_deep" and "nested too deeply" in error["message"]
        hook = await http.post(WEBHOOK, content=b"[" * DEEP + b"]" * DEEP)
        assert hook.status_code == 400 and "nested too deeply" in hook.text
        assert (await http.get("/healthz")).status_code == 200


async def test_a_deeply_nested_websocket_frame_gets_an_error_frame_and_the_socket_stays() -> None:
    async with serving(ScriptedGateway()) as server, connect(f"ws://127.0.0.1:{server.port}/api/ws") as ws:
        with anyio.fail_after(GUARD):
            assert msgspec.json.decode(await ws.recv())["type"] == "ready"
            await ws.send('{"type": "message", "text": "hi", "x": ' + "[" * DEEP + "]" * DEEP + "}")
            frame = msgspec.json.decode(await ws.recv())
            assert frame["type"] == "error" and frame["code"] == "invalid_frame"
            assert "nested too deeply" in frame["message"]
            await ws.send('{"type": "ping"}')
            assert msgspec.json.decode(await ws.recv()) == {"type": "pong"}


async def test_the_voice_endpoint_has_the_browser_checks_of_the_chat_api() -> None:
    gateway = ScriptedGateway()
    async with serving(gateway) as server:
        url = f"http://127.0.0.1:{server.port}"
        async with httpx.AsyncClient(base_url=url, timeout=GUARD) as http:
            foreign = await http.post(VOICE_PATH, content=b"RIFF", headers={"origin": "http://evil.example"})
            assert foreign.status_code == 403 and foreign.json()["error"]["code"] == "bad_origin"
            rebound = await http.post(VOICE_PATH, content=b"RIFF", headers={"host": "evil.example"})
            assert rebound.status_code == 403 and rebound.json()["error"]["code"] == "host_not_allowed"
            assert gateway.messages == []  # neither reached the agent
            same = await http.post(VOICE_PATH, content=b"RIFF", headers={"origin": url})
            assert same.status_code == 200
            assert len(gateway.messages) == 1
