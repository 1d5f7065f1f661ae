"""Runs push channels: inbound events into the gateway, replies back out through the channel."""

from __future__ import annotations

import logging

from rustyclaw.domain.errors import InvalidInputError, RustyClawError
from rustyclaw.domain.events import TurnEvent, TurnStarted
from rustyclaw.domain.messages import InboundMessage, OutboundMessage
from rustyclaw.ports.channel import Channel
from rustyclaw.ports.gateway import GatewayService

log = logging.getLogger("rustyclaw.dispatch")


class ChannelDispatcher:
    """The InboundHandler a push channel is started with.

    Bad input gets a reply in the chat; a failure to deliver is logged and never raised into
    the channel's receive loop, so one bad message cannot stop a channel.
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
            reply = await self._gateway.handle(message, on_event)
        except InvalidInputError as exc:
            await self._send(message, f"Sorry, I could not take that message: {exc}")
            return
        if reply is None or not reply.text:
            return
        await self._send(message, reply.text)

    async def _send(self, message: InboundMessage, text: str) -> None:
        out = OutboundMessage(
            channel=message.channel, account=message.account, peer_id=message.peer_id,
            chat_kind=message.chat_kind, thread_id=message.thread_id, reply_to=message.message_id,
            text=text,
        )
        try:
            await self._channel.send(out)
        except RustyClawError as exc:
            log.error("reply not delivered on %s: %s", message.channel, exc)
