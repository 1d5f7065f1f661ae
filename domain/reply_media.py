"""Media a tool produced during a turn (a browser screenshot), handed to that turn's reply.

Tools return text to the model; an image for the user goes here under the session's key, and the
gateway takes it into `Reply.attachments` when the turn ends, so every channel that sends
attachments (the web chat, chat platforms through the dispatcher) delivers it.
"""

from __future__ import annotations

from rustyclaw.domain.messages import Attachment

# A runaway loop of screenshots must not grow memory without bound: only the latest are kept.
MAX_PER_TURN = 8


class ReplyMedia:
    def __init__(self, max_per_turn: int = MAX_PER_TURN) -> None:
        self._pending: dict[str, list[Attachment]] = {}
        self._max = max_per_turn

    def add(self, session_key: str, attachment: Attachment) -> None:
        items = self._pending.setdefault(session_key, [])
        items.append(attachment)
        del items[: max(0, len(items) - self._max)]

    def take(self, session_key: str) -> tuple[Attachment, ...]:
        return tuple(self._pending.pop(session_key, ()))
