"""The driving side: what channel and HTTP adapters call to have a message handled."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from rustyclaw.domain.events import Reply, TurnEvent
from rustyclaw.domain.messages import InboundMessage

Emit = Callable[[TurnEvent], Awaitable[None]]
# Fetches what a message only references (a voice note on the platform's servers); raises
# AudioError with the text to tell the user when it cannot.
MediaResolver = Callable[[InboundMessage], Awaitable[InboundMessage]]


class GatewayService(Protocol):
    async def handle(
        self, message: InboundMessage, emit: Emit | None = None, media: MediaResolver | None = None
    ) -> Reply | None:
        """Runs access, routing, commands and the agent turn for one inbound message.

        Returns the final Reply, or None when the message is dropped on purpose (a duplicate
        platform id, a sender that policy ignores). Streams ReplyDelta/ToolActivity through
        `emit` when given. Cancelling the calling task cancels the turn cleanly: the user's
        message stays stored, the session is released, no partial answer is stored.
        `media` runs only once access has let the message in, so strangers cause no downloads.
        Raises InvalidInputError for a malformed or oversized message.
        """
        ...

    def ready(self) -> bool: ...

    async def status(self) -> dict[str, Any]: ...
