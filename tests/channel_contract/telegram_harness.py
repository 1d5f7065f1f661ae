"""The contract harness for TelegramChannel: the emulator is the platform, in polling or webhook mode."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from rustyclaw.adapters.channels.telegram import TelegramChannel
from rustyclaw.adapters.channels.webhook_asgi import Receive, Scope, Send
from tests.channel_contract.harness_http import serving
from tests.fixtures.telegram_emulator import TelegramEmulator

WEBHOOK_SECRET = "contract-secret_1"
_users = itertools.count(20_000)


class TelegramHarness:
    def __init__(self, emulator: TelegramEmulator, token: str, mode: str, webhook_url: str | None) -> None:
        self.emulator = emulator
        self.token = token
        self.mode = mode
        self.webhook_url = webhook_url
        self.current: TelegramChannel | None = None

    def make_channel(self) -> TelegramChannel:
        channel = TelegramChannel(
            self.token, api_base_url=self.emulator.base_url, mode=self.mode,  # type: ignore[arg-type]
            webhook_url=self.webhook_url, webhook_secret=WEBHOOK_SECRET if self.mode == "webhook" else None,
            poll_interval=0.05,
        )
        self.current = channel
        return channel

    def new_user(self) -> str:
        return str(next(_users))

    def peer_of(self, user: str) -> str:
        return user

    async def inject(self, user: str, text: str) -> None:
        await self.emulator.user_message(self.token, text, user_id=int(user))

    async def delivered(self, peer_id: str) -> list[str]:
        return [str(m.get("text", "")) for m in await self.emulator.bot_messages(self.token, int(peer_id))]

    async def webhook_app(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Forwards to the webhook app of the adapter made last (tests make a new one each)."""
        channel = self.current
        if channel is None:
            await send({"type": "http.response.start", "status": 503, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        await channel.webhook_asgi_app()(scope, receive, send)


@asynccontextmanager
async def telegram_harness(
    emulator: TelegramEmulator, token: str, mode: str
) -> AsyncIterator[TelegramHarness]:
    if mode == "polling":
        yield TelegramHarness(emulator, token, mode, None)
        return
    holder: dict[str, Any] = {}

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await holder["harness"].webhook_app(scope, receive, send)

    async with serving(app) as url:
        harness = TelegramHarness(emulator, token, mode, f"{url}/channels/telegram/webhook")
        holder["harness"] = harness
        yield harness
