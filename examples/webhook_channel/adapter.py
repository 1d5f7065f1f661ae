"""A plain HTTP-webhook channel: the smallest complete RustyClaw channel adapter.

The "platform" is any service that can POST JSON:
- inbound: it POSTs `{"id", "from", "chat", "text", "name"?, "group"?, "mentioned"?}` to the
  adapter's ASGI app (mount `webhook_asgi_app()` in the gateway), signed with
  `X-Signature: sha256=<hex HMAC-SHA256 of the raw body with the shared secret>`;
- outbound: the adapter POSTs `{"chat", "text", "reply_to"}` to `outbound_url`, one POST per
  piece of a long reply, with the same signature header.

The module ends with the channel's one registration (settings model, factory, access rules and
media support): `channels.webhook` in the config turns it on once it is registered, either by an
entry point of the package that ships it or by `default_registry().register(registration)`.

Read docs/writing-a-channel-adapter.md next to this file; tests/integration/test_example_channel.py
runs the channel contract suite against it, built from its registration.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from collections.abc import Mapping
from typing import Any

from pydantic import Field

from rustyclaw.adapters.channels.text_split import split_text
from rustyclaw.adapters.channels.webhook_asgi import ASGIApp, webhook_app
from rustyclaw.channel_registry import ChannelRegistration
from rustyclaw.config.base import SecretStrValue
from rustyclaw.config.channels import ChannelAccessConfig
from rustyclaw.domain.errors import ChannelError, ConfigError
from rustyclaw.domain.messages import InboundMessage, OutboundMessage
from rustyclaw.ports.channel import InboundHandler

log = logging.getLogger("examples.webhook_channel")


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookChannel:
    """A Channel whose platform talks plain signed JSON over HTTP."""

    def __init__(
        self, secret: str, outbound_url: str, *, name: str = "webhook", text_limit: int = 2000
    ) -> None:
        self.name = name
        self.text_limit = text_limit
        self._secret = secret
        self._outbound_url = outbound_url
        self._handler: InboundHandler | None = None
        self._client: Any = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, handler: InboundHandler) -> None:
        if self._client is not None:
            return  # idempotent
        import httpx  # heavy libraries are imported when the channel starts, not at import time

        self._client = httpx.AsyncClient(timeout=10)
        self._handler = handler

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        self._handler = None
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await client.aclose()

    # -- inbound ------------------------------------------------------------------------------
    def webhook_asgi_app(self) -> ASGIApp:
        return webhook_app(self.handle_webhook)

    async def handle_webhook(self, headers: Mapping[str, str], body: bytes) -> tuple[int, bytes]:
        if not hmac.compare_digest(headers.get("x-signature", ""), sign(self._secret, body)):
            log.warning("webhook call refused: bad or missing signature")
            return 403, b'{"error":"bad signature"}'
        if self._handler is None:
            return 503, b'{"error":"not running"}'
        try:
            event = json.loads(body)
            group = bool(event.get("group", False))
            message = InboundMessage(
                channel=self.name,
                peer_id=str(event["chat"]),
                sender_id=str(event["from"]),
                sender_name=str(event.get("name", "")),
                text=str(event["text"]),
                chat_kind="group" if group else "direct",
                mentioned=bool(event.get("mentioned", not group)),
                message_id=f"{event['chat']}:{event['id']}",
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            log.warning("webhook payload refused: %s", exc)
            return 400, b'{"error":"expected {id, from, chat, text}"}'
        # Answer the platform at once; the turn runs in the background (platforms time out).
        task = asyncio.create_task(self._deliver(message))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return 200, b'{"ok":true}'

    async def _deliver(self, message: InboundMessage) -> None:
        handler = self._handler
        if handler is None:
            return
        try:
            await handler(message)
        except Exception:  # one bad message must never stop the channel
            log.exception("handling a webhook message failed")

    # -- outbound -----------------------------------------------------------------------------
    async def send(self, message: OutboundMessage) -> None:
        client = self._client
        if client is None:
            raise ChannelError(f"{self.name}: the channel is not running")
        for piece in split_text(message.text, self.text_limit):
            body = json.dumps({"chat": message.peer_id, "text": piece, "reply_to": message.reply_to}).encode()
            try:
                response = await client.post(
                    self._outbound_url, content=body,
                    headers={"content-type": "application/json", "x-signature": sign(self._secret, body)},
                )
                response.raise_for_status()
            except Exception as exc:  # translate at the edge: callers only know ChannelError
                raise ChannelError(f"{self.name}: delivery failed: {exc}") from exc

    async def typing(self, message: InboundMessage) -> None:
        return None  # this platform has no typing indicator


# -- the registration ---------------------------------------------------------------------------
class WebhookSettings(ChannelAccessConfig):
    """`channels.webhook`: the shared secret and the platform's outbound URL, plus the access rules
    every channel has (dmPolicy, allowFrom, groups, rateLimit), inherited."""

    secret: SecretStrValue | None = None
    outbound_url: str | None = None
    text_limit: int = Field(2000, ge=1)


def webhook_channel_from_settings(settings: WebhookSettings) -> WebhookChannel:
    """Builds the adapter from its validated section (no I/O); refuses incomplete settings."""
    if not settings.secret or not settings.outbound_url:
        raise ConfigError("channels.webhook: secret and outboundUrl are required when the channel is enabled")
    return WebhookChannel(settings.secret, settings.outbound_url, text_limit=settings.text_limit)


def _always(settings: WebhookSettings) -> bool:
    return True  # its platform only pushes: the gateway mounts the app at /channels/webhook/webhook


registration = ChannelRegistration(
    name="webhook", settings=WebhookSettings, factory=webhook_channel_from_settings, webhook=_always,
)
