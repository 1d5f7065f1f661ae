"""`gateway.replicas` end to end, what two replicas share besides the leader: two `rustyclaw serve`
processes on one PostgreSQL schema (the helpers of test_serve_replicas.py).

- A WebSocket client on replica A watching a web chat session receives the reply to a message
  posted for that session through replica B's `POST /api/chat` (and through a socket on B), relayed
  by PostgreSQL NOTIFY (adapters/storage/pg_events.py).
- The same WhatsApp webhook delivery, and the same Telegram webhook update, posted to both replicas
  is answered once: the duplicate check is the shared inbound journal's row in PostgreSQL
  (ON CONFLICT DO NOTHING on channel:account:id).

Waits are bounded receives or conditions, so a bug fails the test instead of hanging it; nothing
asserts how long anything took.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import msgspec
import psycopg
import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.e2e.gateway_process import GatewayProcess, wait_for
from tests.e2e.test_serve_replicas import schema_dsn, two_replicas
from tests.fixtures.graph_standin import (
    ACCESS_TOKEN,
    API_VERSION,
    APP_SECRET,
    PHONE_NUMBER_ID,
    VERIFY_TOKEN,
    GraphStandIn,
    WebhookSender,
    new_wamid,
    text_message,
)
from tests.fixtures.llm_servers import LLMockServer
from tests.fixtures.telegram_emulator import TelegramEmulator, telegram_emulator, telegram_token

__all__ = ["schema_dsn", "telegram_emulator", "telegram_token"]

pytestmark = [pytest.mark.anyio, pytest.mark.postgres, pytest.mark.slow]

BOUND = 60.0  # a hang guard, not an expectation
USER = "16505551234"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@asynccontextmanager
async def replicas(tmp_path: Path, mock: LLMockServer, dsn: str, **extra: Any) -> AsyncIterator[list[GatewayProcess]]:
    gateways, _ = two_replicas(tmp_path, mock, dsn, **extra)
    try:
        for gateway in gateways:
            await anyio.to_thread.run_sync(lambda g=gateway: g.start(timeout=60))
        yield gateways
    finally:
        for gateway in gateways:
            if gateway.process is not None and gateway.process.poll() is None:
                await anyio.to_thread.run_sync(gateway.stop)


async def recv(ws: ClientConnection) -> dict[str, Any]:
    with anyio.fail_after(BOUND):
        frame: dict[str, Any] = msgspec.json.decode(await ws.recv())
    return frame


async def recv_until(ws: ClientConnection, kind: str) -> list[dict[str, Any]]:
    frames = [await recv(ws)]
    while frames[-1]["type"] != kind:
        frames.append(await recv(ws))
    return frames


async def send(ws: ClientConnection, frame: dict[str, Any]) -> None:
    await ws.send(msgspec.json.encode(frame).decode())


async def channel_connected(gateway: GatewayProcess, name: str) -> None:
    """Until the replica's /readyz says the channel runs (another process: its /readyz is all there is)."""
    def connected() -> bool:
        body = httpx.get(f"{gateway.url}/readyz", timeout=5).json()
        return bool(body["channels"][name] == {"state": "connected"})

    await anyio.to_thread.run_sync(wait_for, f"{name} runs", connected, gateway)


def ws_url(gateway: GatewayProcess) -> str:
    return gateway.url.replace("http://", "ws://", 1) + "/api/ws"


async def test_a_socket_on_one_replica_sees_the_replies_made_on_the_other(
    tmp_path: Path, mock_llm: LLMockServer, schema_dsn: str,
) -> None:
    mock_llm.reply("pong", times=None)
    async with replicas(tmp_path, mock_llm, schema_dsn) as (a, b), \
            connect(ws_url(a)) as on_a, connect(ws_url(b)) as on_b:
        assert (await recv(on_a))["type"] == (await recv(on_b))["type"] == "ready"
        for ws in (on_a, on_b):
            await send(ws, {"type": "watch", "session": "shared-1"})
            assert await recv(ws) == {"type": "watching", "session": "shared-1"}

        async with httpx.AsyncClient(timeout=BOUND) as client:
            answer = await client.post(f"{b.url}/api/chat", json={"message": "ping over http", "session": "shared-1"})
        assert answer.status_code == 200 and answer.json()["reply"] == "pong"
        for ws in (on_a, on_b):  # B's own sockets hear it too: the HTTP call is not one of them
            relayed = await recv(ws)
            assert (relayed["type"], relayed["session"], relayed["message"], relayed["text"]) == (
                "session_reply", "shared-1", "ping over http", "pong")

        # A socket on B sending on the session: its own reply comes as `reply`, A gets `session_reply`.
        await send(on_b, {"type": "message", "text": "ping over ws", "session": "shared-1", "id": "m1"})
        frames = await recv_until(on_b, "reply")
        assert [f["type"] for f in frames if f["type"] != "delta"] == ["reply"], frames
        assert frames[-1]["text"] == "pong" and frames[-1]["id"] == "m1"
        relayed = await recv(on_a)
        assert (relayed["type"], relayed["message"], relayed["text"]) == ("session_reply", "ping over ws", "pong")

        # And back: A sends, B hears it; A gets only its own reply.
        await send(on_a, {"type": "message", "text": "ping from a", "session": "shared-1", "id": "m2"})
        frames = await recv_until(on_a, "reply")
        assert all(f["type"] in ("delta", "reply") for f in frames)
        relayed = await recv(on_b)
        assert (relayed["type"], relayed["message"]) == ("session_reply", "ping from a")

        # Another session's replies do not reach A; the next frame A gets is its own pong.
        async with httpx.AsyncClient(timeout=BOUND) as client:
            other = await client.post(f"{b.url}/api/chat", json={"message": "elsewhere", "session": "other-1"})
        assert other.status_code == 200
        await send(on_a, {"type": "ping"})
        assert await recv(on_a) == {"type": "pong"}


async def test_one_whatsapp_delivery_posted_to_both_replicas_is_answered_once(
    tmp_path: Path, mock_llm: LLMockServer, schema_dsn: str, graph_standin: GraphStandIn,
) -> None:
    mock_llm.reply("answered", times=None)
    graph = graph_standin
    whatsapp = {"enabled": True, "dmPolicy": "open", "allowFrom": ["*"], "accessToken": ACCESS_TOKEN,
                "appSecret": APP_SECRET, "verifyToken": VERIFY_TOKEN, "phoneNumberId": PHONE_NUMBER_ID,
                "apiBaseUrl": graph.url, "apiVersion": API_VERSION}
    async with replicas(tmp_path, mock_llm, schema_dsn, channels={"whatsapp": whatsapp}) as (a, b):
        for gateway in (a, b):
            await channel_connected(gateway, "whatsapp")
        hook = "/channels/whatsapp/webhook"
        to_a, to_b = WebhookSender(a.url + hook), WebhookSender(b.url + hook)
        wamid = new_wamid()
        payload = text_message(USER, "hello twice", wamid=wamid)
        statuses: list[int] = []

        async def deliver(sender: WebhookSender) -> None:
            statuses.append((await sender.post(payload)).status_code)

        async with anyio.create_task_group() as group:  # both at once: Meta retried on the other replica
            for sender in (to_a, to_b):
                group.start_soon(deliver, sender)
        assert statuses == [200, 200]
        # Each POST returned only after its replica recorded the message or found it recorded:
        # the decision is made, whatever is still running.
        dropped = [g for g in (a, b) if f"message {wamid} was accepted before; dropped" in g.log()]
        assert len(dropped) == 1
        with psycopg.connect(schema_dsn) as conn:
            rows = conn.execute("SELECT count(*) FROM rustyclaw_inbox WHERE key LIKE %s", (f"%:{wamid}",)).fetchone()
        assert rows == (1,)
        assert await graph.wait_texts(USER, 1, within=BOUND) == ["answered"]

        # A later message through B is answered after it, and it is the only other answer.
        assert (await to_b.post(text_message(USER, "and now?", wamid=new_wamid()))).status_code == 200
        assert await graph.wait_texts(USER, 2, within=BOUND) == ["answered", "answered"]
        turns = [body for body in mock_llm.chat_bodies() if body["messages"][-1]["content"] == "hello twice"]
        assert len(turns) == 1


async def test_one_telegram_webhook_update_posted_to_both_replicas_is_answered_once(
    tmp_path: Path, mock_llm: LLMockServer, schema_dsn: str, telegram_emulator: TelegramEmulator,
    telegram_token: str,
) -> None:
    mock_llm.reply("answered", times=None)
    secret = "hook-secret-0123456789"
    telegram = {"enabled": True, "botToken": telegram_token, "apiBaseUrl": telegram_emulator.base_url,
                "mode": "webhook", "webhookUrl": "https://gateway.example/channels/telegram/webhook",
                "webhookSecret": secret, "dmPolicy": "open", "allowFrom": ["*"]}
    user = 5151
    async with replicas(tmp_path, mock_llm, schema_dsn, channels={"telegram": telegram}) as (a, b):
        for gateway in (a, b):  # a webhook channel runs on every replica; ready once it started
            await channel_connected(gateway, "telegram")
        update = telegram_emulator.make_update("hello twice", user_id=user)
        headers = {"x-telegram-bot-api-secret-token": secret}
        statuses: list[int] = []

        async def deliver(gateway: GatewayProcess) -> None:
            async with httpx.AsyncClient(timeout=BOUND) as client:
                answer = await client.post(f"{gateway.url}/channels/telegram/webhook", json=update, headers=headers)
            statuses.append(answer.status_code)

        async with anyio.create_task_group() as group:
            for gateway in (a, b):
                group.start_soon(deliver, gateway)
        assert statuses == [200, 200]
        assert sum("was accepted before; dropped" in g.log() for g in (a, b)) == 1
        with psycopg.connect(schema_dsn) as conn:
            rows = conn.execute("SELECT count(*) FROM rustyclaw_inbox WHERE channel = 'telegram'").fetchone()
        assert rows == (1,)
        assert await telegram_emulator.wait_bot_texts(telegram_token, user, 1, within=BOUND) == ["answered"]

        later = telegram_emulator.make_update("and now?", user_id=user)
        async with httpx.AsyncClient(timeout=BOUND) as client:
            answer = await client.post(f"{a.url}/channels/telegram/webhook", json=later, headers=headers)
        assert answer.status_code == 200
        # Read once each: the second wait sees only what came after the first answer.
        assert await telegram_emulator.wait_bot_texts(telegram_token, user, 1, within=BOUND) == ["answered"]
        turns = [body for body in mock_llm.chat_bodies() if body["messages"][-1]["content"] == "hello twice"]
        assert len(turns) == 1
