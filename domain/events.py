"""What a turn emits while it runs, for driving adapters that stream (web chat, SSE, WebSocket)."""

from __future__ import annotations

from typing import Literal

import msgspec

from rustyclaw.domain.messages import Attachment, Usage


class TurnStarted(msgspec.Struct, frozen=True, kw_only=True, tag="started"):
    """The message passed access and commands: the model is being asked (time to show typing)."""

    session_key: str


class ReplyDelta(msgspec.Struct, frozen=True, tag="delta"):
    text: str


class ToolActivity(msgspec.Struct, frozen=True, kw_only=True, tag="tool"):
    name: str
    call_id: str
    status: Literal["started", "done", "denied", "error"]
    detail: str = ""


class Reply(msgspec.Struct, frozen=True, kw_only=True, tag="reply"):
    """The end of a turn. `error` holds a user-facing explanation when the turn failed."""

    text: str
    session_key: str
    session_id: str
    model: str = ""
    usage: Usage = Usage()
    finish_reason: str = "stop"
    error: str | None = None
    command: str | None = None
    # Voice: what a voice note was heard as, and the reply spoken as a voice note (domain/voice.py).
    transcript: str | None = None
    attachments: tuple[Attachment, ...] = ()


TurnEvent = TurnStarted | ReplyDelta | ToolActivity | Reply
