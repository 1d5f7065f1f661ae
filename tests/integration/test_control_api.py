"""The conversation and control routes (adapters/http/control_api.py) over the real ControlPlane
(rustyclaw/control_setup.py) on the in-memory store and the domain's session service, in process.

Proves the JSON shapes the pages rely on, rename/delete/reset semantics (a deleted conversation is
archived, not lost, and leaves the list), cut replies marked in the history, the token and the
Host check on every route (GETs too), and clear 4xx errors naming the bad field.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import pytest

from rustyclaw.adapters.clock import SystemClock
from rustyclaw.adapters.http.app import create_app
from rustyclaw.adapters.http.settings import HttpSettings
from rustyclaw.adapters.http.testing import ScriptedGateway
from rustyclaw.adapters.storage.memory import MemoryStore
from rustyclaw.control_setup import GatewayControl
from rustyclaw.domain.messages import ChatMessage, InboundMessage
from rustyclaw.domain.session_keys import session_key
from rustyclaw.domain.sessions import SessionService
from rustyclaw.domain.settings import SessionSettings
from rustyclaw.ports.control import AgentView

pytestmark = pytest.mark.anyio
TOKEN = "control-api-token-0123456789abcdef"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class Kit:
    http: httpx.AsyncClient
    store: MemoryStore
    sessions: SessionService
    keys: dict[str, str]


async def seed(sessions: SessionService, peer: str, exchange: list[tuple[str, str, str | None]]) -> str:
    """A web conversation with `peer` as its page session id; returns its key."""
    message = InboundMessage(channel="web", peer_id=peer, sender_id=peer, text="x", session_hint=peer)
    key = session_key(message, "main", sessions.settings)  # what the gateway keys a page's session as
    entry = await sessions.open(key, message)
    now = time.time()
    stored = []
    for index, (role, text, reason) in enumerate(exchange):
        item = ChatMessage(role=role, content=text, created_at=now + index, tokens=len(text.split()))  # type: ignore[arg-type]
        if reason is not None:
            item.meta["stopReason"] = reason
        stored.append(item)
    await sessions.append(entry, stored)
    await sessions.touch(entry, message)
    return key


@asynccontextmanager
async def kit(token: str | None = None, host: str = "127.0.0.1:18789") -> AsyncIterator[Kit]:
    store = MemoryStore()
    await store.start()
    clock = SystemClock()
    sessions = SessionService(store, clock, SessionSettings())
    control = GatewayControl(sessions, clock, agents=[AgentView(id="main", model="local/m", default=True)],
                             config_text=lambda: "gateway:\n  auth:\n    token: '***'\n")
    app = create_app(ScriptedGateway(), HttpSettings(token=token), control)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://{host}",
                                 headers=headers) as http:
        yield Kit(http, store, sessions, {})
    await store.aclose()


async def test_conversations_list_history_rename_delete() -> None:
    async with kit() as k:
        await seed(k.sessions, "web-apples", [("user", "Tell me about apples", None),
                                              ("assistant", "Apples are", "length")])
        k.keys["web-pears"] = await seed(k.sessions, "web-pears", [("user", "pears?", None),
                                                                  ("assistant", "Pears.", "stop")])
        listing = (await k.http.get("/api/conversations")).json()["conversations"]
        assert [c["id"] for c in listing] == ["web-pears", "web-apples"]  # newest first
        assert listing[1]["title"] == "Tell me about apples" and listing[1]["messages"] == 2

        history = (await k.http.get("/api/conversations/web-apples")).json()
        assert [(m["role"], m["content"], m["status"]) for m in history["messages"]] == [
            ("user", "Tell me about apples", None), ("assistant", "Apples are", "length")]

        renamed = await k.http.patch("/api/conversations/web-apples", json={"title": "  Fruit   talk "})
        assert renamed.json()["title"] == "Fruit talk"
        assert (await k.http.get("/api/conversations")).json()["conversations"][1]["title"] == "Fruit talk"

        assert (await k.http.delete("/api/conversations/web-pears")).json()["deleted"] is True
        assert [c["id"] for c in (await k.http.get("/api/conversations")).json()["conversations"]] == ["web-apples"]
        archived = await k.store.list_archived()
        assert [a.session_key for a in archived] == [k.keys["web-pears"]]  # kept, not lost

        missing = await k.http.get("/api/conversations/web-nothing")
        assert missing.status_code == 404 and missing.json()["error"]["param"] == "conversation"
        bad = await k.http.patch("/api/conversations/web-apples", json={"title": ""})
        assert bad.status_code == 400 and bad.json()["error"]["param"] == "title"
        assert (await k.http.get("/api/conversations/bad:id")).status_code == 400


async def test_control_sessions_search_transcript_export_reset() -> None:
    async with kit(TOKEN) as k:
        key = await seed(k.sessions, "web-1", [("user", "the secret word is walrus", None),
                                               ("assistant", "Noted.", "stop")])
        await seed(k.sessions, "web-2", [("user", "hello", None)])
        found = (await k.http.get("/api/control/sessions", params={"q": "WALRUS"})).json()["sessions"]
        assert [s["key"] for s in found] == [key]
        transcript = (await k.http.get("/api/control/transcript", params={"key": key})).json()
        assert [m["content"] for m in transcript["messages"]] == ["the secret word is walrus", "Noted."]
        export = await k.http.get("/api/control/export", params={"key": key})
        assert "attachment" in export.headers["content-disposition"]
        assert export.json()["messages"][1]["content"] == "Noted."
        assert (await k.http.post("/api/control/reset", json={"key": key})).json()["reset"] is True
        after = (await k.http.get("/api/control/transcript", params={"key": key})).json()
        assert after["messages"] == []
        nope = await k.http.post("/api/control/reset", json={"key": "agent:main:nothing"})
        assert nope.status_code == 404
        usage = (await k.http.get("/api/control/usage")).json()
        assert usage["days"] and usage["days"][0]["input_tokens"] > 0
        assert (await k.http.get("/api/control/agents")).json()["agents"][0]["id"] == "main"
        assert "***" in (await k.http.get("/api/control/config")).text
        assert (await k.http.get("/api/control/pairing")).json() == {"requests": []}
        assert (await k.http.get("/api/control/cron")).json() == {"jobs": []}
        assert (await k.http.post("/api/control/cron/run", json={"id": "x"})).status_code == 404
        assert (await k.http.get("/api/control/transcript")).json()["error"]["param"] == "key"


async def test_every_route_needs_the_token_when_one_is_set() -> None:
    async with kit(TOKEN) as k:
        anonymous = httpx.AsyncClient(transport=k.http._transport, base_url="http://127.0.0.1:18789")
        async with anonymous:
            for path in ("/api/conversations", "/api/conversations/web-1", "/api/control/sessions",
                         "/api/control/config", "/api/commands"):
                response = await anonymous.get(path)
                assert response.status_code == 401, path
                assert response.json()["error"]["code"] == "missing_api_key"


async def test_tokenless_routes_refuse_foreign_hosts_and_origins_even_for_gets() -> None:
    async with kit(host="rebound.example:18789") as k:
        for path in ("/api/conversations", "/api/control/transcript?key=x", "/control"):
            response = await k.http.get(path)
            assert response.status_code == 403, path
            assert response.json()["error"]["code"] == "host_not_allowed"
    async with kit() as k:
        crossed = await k.http.get("/api/control/sessions", headers={"Origin": "http://evil.example"})
        assert crossed.status_code == 403 and crossed.json()["error"]["code"] == "bad_origin"


async def test_commands_come_from_the_gateway_help() -> None:
    async with kit() as k:
        names = [c["name"] for c in (await k.http.get("/api/commands")).json()["commands"]]
    assert {"/new", "/reset", "/status", "/model", "/stop", "/help", "/tts", "/elevated"} <= set(names)
