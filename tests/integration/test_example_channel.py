"""The example webhook channel (examples/webhook_channel) passes the channel contract suite."""

from __future__ import annotations

import itertools
import json
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from examples.webhook_channel.adapter import WebhookChannel, sign
from rustyclaw.adapters.channels.webhook_asgi import Receive, Scope, Send, webhook_app
from tests.channel_contract.contract import ChannelContract, ChannelHarness, Recorder
from tests.channel_contract.harness_http import serving

SECRET = "example-secret"
_ids = itertools.count(1)


class FakePlatform:
    """The platform's side: sends signed events to the adapter and records what the adapter posts."""

    def __init__(self) -> None:
        self.inbox: dict[str, list[str]] = defaultdict(list)
        self.current: WebhookChannel | None = None
        self.base_url = ""

    async def outbound(self, headers: Any, body: bytes) -> tuple[int, bytes]:
        if headers.get("x-signature") != sign(SECRET, body):
            return 403, b"{}"
        event = json.loads(body)
        self.inbox[event["chat"]].append(event["text"])
        return 200, b"{}"

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/outbound":
            await webhook_app(self.outbound)(scope, receive, send)
            return
        assert self.current is not None
        await self.current.webhook_asgi_app()(scope, receive, send)

    # -- ChannelHarness -----------------------------------------------------------------------
    def make_channel(self) -> WebhookChannel:
        self.current = WebhookChannel(SECRET, f"{self.base_url}/outbound")
        return self.current

    def new_user(self) -> str:
        return f"user{next(_ids)}"

    def peer_of(self, user: str) -> str:
        return user

    async def post_event(self, event: dict[str, Any], secret: str | None = SECRET) -> httpx.Response:
        body = json.dumps(event).encode()
        headers = {"x-signature": sign(secret, body)} if secret else {}
        async with httpx.AsyncClient(timeout=10) as client:
            return await client.post(f"{self.base_url}/webhook", content=body, headers=headers)

    async def inject(self, user: str, text: str) -> None:
        await self.post_event({"id": str(next(_ids)), "from": user, "chat": user, "text": text})

    async def delivered(self, peer_id: str) -> list[str]:
        texts, self.inbox[peer_id] = self.inbox[peer_id], []
        return texts


@pytest.fixture
async def platform() -> AsyncIterator[FakePlatform]:
    fake = FakePlatform()
    async with serving(fake.app) as url:
        fake.base_url = url
        yield fake


class TestExampleWebhookChannelContract(ChannelContract):
    @pytest.fixture
    async def harness(self, platform: FakePlatform) -> AsyncIterator[ChannelHarness]:
        yield platform


@pytest.mark.anyio
async def test_unsigned_and_malformed_events_are_refused(platform: FakePlatform) -> None:
    recorder = Recorder()
    channel = platform.make_channel()
    await channel.start(recorder)
    try:
        event = {"id": "1", "from": "u", "chat": "u", "text": "hi"}
        assert (await platform.post_event(event, secret=None)).status_code == 403
        assert (await platform.post_event(event, secret="wrong")).status_code == 403
        assert (await platform.post_event({"text": "no sender"})).status_code == 400
        assert (await platform.post_event(event)).status_code == 200
        [message] = await recorder.wait_for(1)
        assert (message.text, message.message_id) == ("hi", "u:1")
    finally:
        await channel.aclose()
