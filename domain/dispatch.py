"""Runs push channels: inbound events into the gateway, replies back out through the channel."""

from __future__ import annotations

import logging

import msgspec

from rustyclaw.domain.errors import AudioError, InvalidInputError, RustyClawError
from rustyclaw.domain.events import TurnEvent, TurnStarted
from rustyclaw.domain.messages import Attachment, InboundMessage, OutboundMessage
from rustyclaw.domain.voice import VOICE_KINDS
from rustyclaw.ports.channel import MEDIA_LIMIT, Channel, MediaChannel
from rustyclaw.ports.gateway import GatewayService

log = logging.getLogger("rustyclaw.dispatch")


class ChannelDispatcher:
    """The InboundHandler a push channel is started with.

    Bad input gets a reply in the chat; a failure to deliver is logged and never raised into
    the channel's receive loop, so one bad message cannot stop a channel.

    Voice notes: a voice/audio attachment that arrives as a reference (no `data`) is fetched
    through the channel's optional `fetch_media` (ports.channel.MediaChannel, at most
    MEDIA_LIMIT bytes) once access has let the message in; a fetch that fails is answered in the chat. A reply's
    attachments (the spoken reply) go out in the same OutboundMessage as its text; channels send
    the text first and the voice note after it, so the answer can be read at once.
    """

    def __init__(self, gateway: GatewayService, channel: Channel) -> None:
        self._gateway = gateway
        self._channel = channel

    async def __call__(self, message: InboundMessage) -> None:
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
            await self._send(message, f"Sorry, I could not take that message: {exc}")
            return
        if reply is None or not (reply.text or reply.attachments):
            return
        await self._send(message, reply.text, reply.attachments)

    async def _with_media(self, message: InboundMessage) -> InboundMessage:
        """The message with its voice notes' bytes; AudioError says why they could not be had."""
        channel = self._channel
        wanted = [a for a in message.attachments if a.kind in VOICE_KINDS and a.data is None and a.url]
        if not wanted or not isinstance(channel, MediaChannel):
            return message
        resolved: list[Attachment] = []
        for attachment in message.attachments:
            if attachment in wanted:
                if attachment.size is not None and attachment.size > MEDIA_LIMIT:
                    raise AudioError(f"Sorry, that voice note is too large (over {MEDIA_LIMIT >> 20} MB).")
                try:
                    data = await channel.fetch_media(attachment, MEDIA_LIMIT)
                except RustyClawError as exc:
                    log.warning("voice note not fetched on %s: %s", message.channel, exc)
                    raise AudioError(
                        "Sorry, I couldn't download that voice note; please try again or type it."
                    ) from exc
                attachment = msgspec.structs.replace(attachment, data=data, size=len(data))
            resolved.append(attachment)
        return msgspec.structs.replace(message, attachments=tuple(resolved))

    async def _send(
        self, message: InboundMessage, text: str, attachments: tuple[Attachment, ...] = ()
    ) -> None:
        out = OutboundMessage(
            channel=message.channel, account=message.account, peer_id=message.peer_id,
            chat_kind=message.chat_kind, thread_id=message.thread_id, reply_to=message.message_id,
            text=text, attachments=attachments,
        )
        try:
            await self._channel.send(out)
        except RustyClawError as exc:
            log.error("reply not delivered on %s: %s", message.channel, exc)
