"""A chat platform: turns platform events into InboundMessages and delivers OutboundMessages."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol, runtime_checkable

from rustyclaw.domain.messages import Attachment, InboundMessage, OutboundMessage

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


MEDIA_LIMIT = 20 << 20  # Telegram's own getFile limit for bots; the dispatcher fetches no more


@runtime_checkable
class MediaChannel(Protocol):
    """Optional: a channel whose inbound attachments are references (file ids, media ids, CDN
    urls) can fetch their bytes. The dispatcher uses it for voice notes before the turn.

    `fetch_media` returns the attachment's bytes, at most `max_bytes` of them; it raises
    `ChannelError` when the platform refuses, the file is gone, or it is larger than that.
    Channels that can also deliver `OutboundMessage.attachments` (voice notes) say so in their
    `send` docstring; a channel that cannot ignores them and sends the text.
    """

    async def fetch_media(self, attachment: Attachment, max_bytes: int = MEDIA_LIMIT) -> bytes: ...


@runtime_checkable
class SendOnlyChannel(Protocol):
    """Optional: a channel that can send without receiving, for a replica where it does not run.

    Under `gateway.replicas` a channel that holds a connection (long polling, a gateway socket)
    runs on the leader only; on a follower it is never started. `allow_send_only()` (no I/O) lets
    its `send` open a client of its own that never receives; `close_send_only()` closes that
    client at shutdown. Starting the channel later (the follower became the leader) is unaffected:
    `send` then goes through the running channel.
    """

    def allow_send_only(self) -> None: ...

    async def close_send_only(self) -> None: ...
