"""The web chat's relay of replies between sockets (adapters/http/relay.py, ws.py) over a real HTTP
server, with an in-process bus standing in for PostgreSQL (that one: test_pg_session_events.py, and
across two serve processes: tests/e2e/test_serve_replicas_shared.py).

Without a bus (no replicas) nothing is relayed and a watch frame says so; with one, a socket watching
a session gets the replies other sockets and `POST /api/chat` made there, never its own, and a
failing publish never fails the turn.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
import msgspec
import pytest
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from websockets.asyncio.client import ClientConnection, connect

from rustyclaw.adapters.http.app import create_app
from rustyclaw.adapters.http.server import HttpServer
from rustyclaw.adapters.http.settings import HttpSettings
from rustyclaw.adapters.http.testing import ScriptedGateway
from rustyclaw.adapters.http.ws import MAX_WATCHED
from rustyclaw.domain.errors import StorageUnavailableError
from rustyclaw.ports.session_events import SessionEvent, SessionEvents

pytestmark = pytest.mark.anyio

GUARD = 10  # a hang guard, not a timing assertion


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class LocalBus:
    """SessionEvents in one process: publish hands the event to the session's subscribers at once."""

    def __init__(self) -> None:
        self.subscribers: dict[str, set[MemoryObjectSendStream[SessionEvent]]] = {}
        self.published: list[SessionEvent] = []
        self.fail = False

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        return None

    async def publish(self, event: SessionEvent) -> None:
        if self.fail:
            raise StorageUnavailableError("the database is gone")
        self.published.append(event)
        for stream in self.subscribers.get(event.session, set()):
            stream.send_nowait(event)

    @asynccontextmanager
    async def subscribe(self, session: str) -> AsyncIterator[MemoryObjectReceiveStream[SessionEvent]]:
        send, receive = anyio.create_memory_object_stream[SessionEvent](16)
        self.subscribers.setdefault(session, set()).add(send)
        try:
            yield receive
        finally:
            self.subscribers[session].discard(send)
            send.close()
            receive.close()


@asynccontextmanager
async def serving(gateway: ScriptedGateway, events: SessionEvents | None) -> AsyncIterator[HttpServer]:
    settings = HttpSettings(agent_ids=["main"], default_agent="main")
    server = HttpServer(create_app(gateway, settings, events=events), "127.0.0.1", 0)
    ready = anyio.Event()
    async with anyio.create_task_group() as group:
        group.start_soon(server.serve, ready)
        with anyio.fail_after(GUARD):
            await ready.wait()
        try:
            yield server
        finally:
            await server.aclose()


async def recv(ws: ClientConnection) -> dict[str, Any]:
    with anyio.fail_after(GUARD):
        frame: dict[str, Any] = msgspec.json.decode(await ws.recv())
    return frame


async def send(ws: ClientConnection, frame: dict[str, Any]) -> None:
    await ws.send(msgspec.json.encode(frame).decode())


async def turn(ws: ClientConnection, text: str, session: str) -> list[dict[str, Any]]:
    await send(ws, {"type": "message", "text": text, "session": session, "id": text})
    frames = [await recv(ws)]
    while frames[-1]["type"] not in ("reply", "error"):
        frames.append(await recv(ws))
    return frames


def url(server: HttpServer) -> str:
    return f"ws://127.0.0.1:{server.port}/api/ws"


async def test_without_a_bus_nothing_is_relayed_and_a_watch_says_so() -> None:
    async with serving(ScriptedGateway(reply_text="hi"), None) as server, \
            connect(url(server)) as one, connect(url(server)) as two:
        assert (await recv(one))["type"] == (await recv(two))["type"] == "ready"
        await send(one, {"type": "watch", "session": "s1"})
        refused = await recv(one)
        assert (refused["type"], refused["code"]) == ("error", "unsupported")
        await turn(one, "from one", "s1")
        assert [f["type"] for f in await turn(two, "from two", "s1")] == ["delta", "delta", "reply"]
        await send(one, {"type": "ping"})
        assert await recv(one) == {"type": "pong"}  # no session_reply of two's turn came before it


async def test_a_watching_socket_gets_the_replies_of_others_never_its_own() -> None:
    bus = LocalBus()
    async with serving(ScriptedGateway(reply_text="hi"), bus) as server, \
            connect(url(server)) as one, connect(url(server)) as two:
        assert (await recv(one))["type"] == (await recv(two))["type"] == "ready"
        await send(one, {"type": "watch", "session": "s1"})
        assert await recv(one) == {"type": "watching", "session": "s1"}

        assert (await turn(two, "from two", "s1"))[-1]["type"] == "reply"
        relayed = await recv(one)
        assert (relayed["type"], relayed["session"], relayed["message"], relayed["text"]) == (
            "session_reply", "s1", "from two", "hi")
        assert relayed["model"] == "scripted-model" and "id" not in relayed

        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}", timeout=GUARD) as client:
            answer = await client.post("/api/chat", json={"message": "over http", "session": "s1"})
        assert answer.status_code == 200
        for ws in (one, two):  # two watches s1 since it sent there
            relayed = await recv(ws)
            assert (relayed["type"], relayed["message"]) == ("session_reply", "over http")

        frames = await turn(one, "from one", "s1")
        assert [f["type"] for f in frames] == ["delta", "delta", "reply"]  # its own reply only
        assert (await recv(two))["message"] == "from one"
        assert [e.session for e in bus.published] == ["web:s1"] * 3
        assert len({e.origin for e in bus.published}) == 3  # two sockets and the HTTP call


async def test_a_socket_watches_at_most_max_watched_sessions_the_oldest_stops() -> None:
    bus = LocalBus()
    async with serving(ScriptedGateway(reply_text="hi"), bus) as server, connect(url(server)) as one:
        await recv(one)
        for n in range(MAX_WATCHED + 1):
            await send(one, {"type": "watch", "session": f"s{n}"})
            assert await recv(one) == {"type": "watching", "session": f"s{n}"}
        watched = {key for key, streams in bus.subscribers.items() if streams}
        assert watched == {f"web:s{n}" for n in range(1, MAX_WATCHED + 1)}


async def test_a_failing_publish_never_fails_the_turn() -> None:
    bus = LocalBus()
    bus.fail = True
    async with serving(ScriptedGateway(reply_text="hi"), bus) as server, connect(url(server)) as one:
        await recv(one)
        assert (await turn(one, "hello", "s1"))[-1]["text"] == "hi"
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}", timeout=GUARD) as client:
            answer = await client.post("/api/chat", json={"message": "over http", "session": "s1"})
        assert answer.status_code == 200 and answer.json()["reply"] == "hi"
