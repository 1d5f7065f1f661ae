"""A chat platform: turns platform events into InboundMessages and delivers OutboundMessages."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from rustyclaw.domain.messages import InboundMessage, OutboundMessage

InboundHandler = Callable[[InboundMessage], Awaitable[None]]


class Channel(Protocol):
    """A push channel (Telegram, Discord, WhatsApp, ...).

    `start(handler)` returns once the channel is receiving; the adapter owns its background
    tasks, reconnects with backoff on its own, and calls `handler` for every inbound message.
    `send` splits text to `text_limit` itself. `aclose` stops receiving and is idempotent.
    """

    name: str
    text_limit: int

    async def start(self, handler: InboundHandler) -> None: ...

    async def send(self, message: OutboundMessage) -> None: ...

    async def typing(self, message: InboundMessage) -> None: ...

    async def aclose(self) -> None: ...
