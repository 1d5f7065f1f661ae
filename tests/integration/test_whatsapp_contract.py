"""The channel contract against WhatsAppChannel: signed webhooks into the gateway's HTTP server,
sends captured by the Graph API stand-in."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator

import pytest

from rustyclaw.adapters.channels.webhook_asgi import Receive, Scope, Send
from rustyclaw.adapters.channels.whatsapp import WhatsAppChannel
from tests.channel_contract.contract import ChannelContract, ChannelHarness
from tests.channel_contract.harness_http import serving
from tests.fixtures.graph_standin import (
    ACCESS_TOKEN,
    API_VERSION,
    APP_SECRET,
    PHONE_NUMBER_ID,
    VERIFY_TOKEN,
    GraphStandIn,
    WebhookSender,
    text_message,
)

_users = itertools.count(15_550_000_000)


class WhatsAppHarness:
    """Meta's side: signed webhook POSTs to the adapter made last; the Graph stand-in's send log."""

    def __init__(self, graph: GraphStandIn) -> None:
        self.graph = graph
        self.current: WhatsAppChannel | None = None
        self.meta: WebhookSender | None = None
        self._read: dict[str, int] = {}

    def make_channel(self) -> WhatsAppChannel:
        self.current = WhatsAppChannel(ACCESS_TOKEN, APP_SECRET, VERIFY_TOKEN, PHONE_NUMBER_ID,
                                       api_base_url=self.graph.url, api_version=API_VERSION)
        return self.current

    def new_user(self) -> str:
        return str(next(_users))

    def peer_of(self, user: str) -> str:
        return user

    async def inject(self, user: str, text: str) -> None:
        assert self.meta is not None
        # A stopped channel answers 503 (Meta would redeliver later); the contract expects no raise.
        await self.meta.post(text_message(user, text))

    async def delivered(self, peer_id: str) -> list[str]:
        texts = self.graph.sent_texts(peer_id)
        start = self._read.get(peer_id, 0)
        self._read[peer_id] = len(texts)
        return texts[start:]

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        channel = self.current
        if channel is None:
            await send({"type": "http.response.start", "status": 503, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        await channel.webhook_asgi_app()(scope, receive, send)


class TestWhatsAppContract(ChannelContract):
    @pytest.fixture
    async def harness(self, graph_standin: GraphStandIn) -> AsyncIterator[ChannelHarness]:
        harness = WhatsAppHarness(graph_standin)
        async with serving(harness.app) as url:
            harness.meta = WebhookSender(url + "/channels/whatsapp/webhook")
            yield harness
