"""Runs push channels: inbound events into the gateway, replies back out through the channel."""

from __future__ import annotations

import logging

import anyio
import msgspec

from rustyclaw.domain.errors import AudioError, InvalidInputError, MediaError, RustyClawError
from rustyclaw.domain.events import TurnEvent, TurnStarted
from rustyclaw.domain.messages import Attachment, InboundMessage, OutboundMessage
from rustyclaw.domain.voice import VOICE_KINDS
from rustyclaw.ports.channel import MEDIA_LIMIT, Channel, MediaChannel
from rustyclaw.ports.clock import Clock
from rustyclaw.ports.gateway import GatewayService
from rustyclaw.ports.inbox import Inbox, InboxEntry, State, inbox_key

log = logging.getLogger("rustyclaw.dispatch")

# How long a reply already being sent may hold up a stop (see ChannelDispatcher._deliver).
SEND_SHIELD_SECONDS = 15.0
# A message whose turn keeps dying with the gateway is answered with GAVE_UP_TEXT after this many starts.
MAX_RESUMES = 3
GAVE_UP_TEXT = ("Sorry, I could not answer your message: the gateway restarted several times while "
                "working on it. Please send it again, perhaps shorter or in parts.")


class ChannelDispatcher:
    """The InboundHandler a push channel is started with.

    Bad input gets a reply in the chat; a failure to deliver is logged and never raised into
    the channel's receive loop, so one bad message cannot stop a channel.

    With an `inbox` (ports/inbox.py) every message is journaled by `accept` before the channel
    acknowledges it, its reply is kept before it is sent, and its entry is closed only when the
    platform took the reply (`failed` otherwise, for `rustyclaw status`). At start the channel's
    InboundDelivery runs `resume` for each `unfinished` entry: a kept reply is sent, an unanswered
    message gets its turn (finished from its stored steps if the gateway had begun it).

    Voice notes: a voice/audio attachment that arrives as a reference (no `data`) is fetched
    through the channel's optional `fetch_media` (ports.channel.MediaChannel, at most
    MEDIA_LIMIT bytes) once access has let the message in; a fetch that fails is answered in the chat. A reply's
    attachments (the spoken reply) go out in the same OutboundMessage as its text; channels send
    the text first and the voice note after it, so the answer can be read at once.
    """

    def __init__(
        self, gateway: GatewayService, channel: Channel, inbox: Inbox | None = None,
        clock: Clock | None = None, *, drain_seconds: float = 0.0,
    ) -> None:
        self._gateway = gateway
        self._channel = channel
        self._inbox = inbox
        self._clock = clock
        # How long a closing channel lets running turns finish (InboundDelivery reads it).
        self.drain_seconds = drain_seconds
        if inbox is not None and clock is None:
            raise ValueError("a ChannelDispatcher with an inbox needs a clock")

    def _now(self) -> float:
        return self._clock.now() if self._clock is not None else 0.0

    # -- the inbound journal (ports/inbox.py): at-least-once, answered once --------------------------
    async def accept(self, message: InboundMessage) -> bool:
        """Records the message durably before the channel acknowledges it; False for a duplicate.
        A message without a platform id is not journaled (nothing could match its redelivery)."""
        if self._inbox is None or message.message_id is None:
            return True
        return await self._inbox.record(message, self._now())

    async def unfinished(self) -> list[InboxEntry]:
        """This channel's journaled messages that were not answered before the last stop."""
        if self._inbox is None:
            return []
        account = str(getattr(self._channel, "account", "default"))
        return await self._inbox.unfinished(self._channel.name, account)

    async def resume(self, entry: InboxEntry) -> None:
        """Finishes one unfinished entry: sends its kept reply, or runs (or finishes) its turn.

        A message whose turn was begun MAX_RESUMES times (each start, the turn died with the
        process or failed) is not tried again: its sender is told it could not be answered.
        """
        if self._inbox is not None and entry.state == "received":
            if entry.attempts >= MAX_RESUMES:
                log.error("giving up on a message after %d restarts", entry.attempts,
                          extra={"peer": entry.message.peer_id})
                await self._send(entry.key, entry.message, GAVE_UP_TEXT)
                return
            with anyio.CancelScope(shield=True):
                await self._inbox.finish(entry.key, "received", self._now(), attempts=entry.attempts + 1)
        if entry.state == "replied" and entry.reply is not None:
            log.info("sending a reply kept from before the restart", extra={"peer": entry.message.peer_id})
            await self._deliver(entry.key, entry.reply)
            return
        await self._run(entry.key, msgspec.structs.replace(entry.message, redelivered=True))

    async def __call__(self, message: InboundMessage) -> None:
        await self._run(inbox_key(message) if message.message_id is not None else None, message)

    async def _run(self, key: str | None, message: InboundMessage) -> None:
        async def on_event(event: TurnEvent) -> None:
            # Typing shows only once access and commands let the message through to the model.
            if isinstance(event, TurnStarted):
                try:
                    await self._channel.typing(message)
                except RustyClawError as exc:
                    log.debug("typing indicator failed: %s", exc)

        try:
            reply = await self._gateway.handle(message, on_event, self._with_media)
        except InvalidInputError as exc:
            await self._send(key, message, f"Sorry, I could not take that message: {exc}")
            return
        if reply is None or not (reply.text or reply.attachments):
            await self._finish(key, "done")
            return
        await self._send(key, message, reply.text, reply.attachments)

    async def _with_media(self, message: InboundMessage) -> InboundMessage:
        """The message with the bytes of its voice notes and images (the gateway passes only the
        ones its turn uses); AudioError / MediaError say why they could not be had."""
        channel = self._channel
        wanted = [a for a in message.attachments
                  if a.kind in (*VOICE_KINDS, "image") and a.data is None and a.url]
        if not wanted or not isinstance(channel, MediaChannel):
            return message
        resolved: list[Attachment] = []
        for attachment in message.attachments:
            if attachment in wanted:
                what = "image" if attachment.kind == "image" else "voice note"
                error = MediaError if attachment.kind == "image" else AudioError
                if attachment.size is not None and attachment.size > MEDIA_LIMIT:
                    raise error(f"Sorry, that {what} is too large (over {MEDIA_LIMIT >> 20} MB).")
                try:
                    data = await channel.fetch_media(attachment, MEDIA_LIMIT)
                except RustyClawError as exc:
                    log.warning("%s not fetched on %s: %s", what, message.channel, exc)
                    raise error(
                        f"Sorry, I couldn't download that {what}; please try again or type it."
                    ) from exc
                attachment = msgspec.structs.replace(attachment, data=data, size=len(data))
            resolved.append(attachment)
        return msgspec.structs.replace(message, attachments=tuple(resolved))

    async def _send(
        self, key: str | None, message: InboundMessage, text: str, attachments: tuple[Attachment, ...] = ()
    ) -> None:
        out = OutboundMessage(
            channel=message.channel, account=message.account, peer_id=message.peer_id,
            chat_kind=message.chat_kind, thread_id=message.thread_id, reply_to=message.message_id,
            text=text, attachments=attachments,
        )
        if self._inbox is not None and key is not None:
            # Kept before sending: after a crash the reply is sent again, the model is not asked again.
            with anyio.CancelScope(shield=True):
                await self._inbox.replied(key, out, self._now())
        await self._deliver(key, out)

    async def _deliver(self, key: str | None, out: OutboundMessage) -> None:
        """Sends; marked delivered only once the platform took it. The channel retries transient
        failures itself (DeliveryError, with backoff and the platform's retry_after).

        A send that has begun is shielded from a stop for up to SEND_SHIELD_SECONDS: cancelled
        half-way, the platform may have shown the reply without us recording it, and the next
        start would send it again. Past that bound it is cancelled and stays `replied`.
        """
        with anyio.CancelScope(shield=True, deadline=anyio.current_time() + SEND_SHIELD_SECONDS):
            try:
                await self._channel.send(out)
            except RustyClawError as exc:
                log.error("reply not delivered on %s: %s", out.channel, exc, extra={"peer": out.peer_id})
                await self._finish(key, "failed", str(exc)[:500])
                return
            await self._finish(key, "delivered")

    async def _finish(self, key: str | None, state: State, error: str | None = None) -> None:
        if self._inbox is None or key is None:
            return
        with anyio.CancelScope(shield=True):
            await self._inbox.finish(key, state, self._now(), error=error)
