"""`message`: sends text to a channel target through a callable the composition root provides."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from rustyclaw.domain.errors import ChannelError, ToolError
from rustyclaw.ports.llm import ToolSpec
from rustyclaw.ports.tools import ToolContext

# send(channel, peer_id, text): delivers or raises ChannelError (unknown channel, platform refusal).
ChannelSend = Callable[[str, str, str], Awaitable[None]]
MAX_TEXT = 4000


class MessageTool:
    """`message`: the channel defaults to the calling session's channel."""

    spec = ToolSpec(
        name="message", description="Send a message to a chat (channel defaults to this one).",
        parameters={"type": "object", "properties": {"to": {"type": "string"}, "text": {"type": "string"},
                                                      "channel": {"type": "string"}},
                    "required": ["to", "text"]},
    )

    def __init__(self, send: ChannelSend) -> None:
        self._send = send

    async def run(self, arguments: dict[str, Any], context: ToolContext) -> str:
        to, text = arguments.get("to"), arguments.get("text")
        channel = arguments.get("channel") or context.channel
        if not isinstance(to, str) or not to.strip():
            raise ToolError("'to' must be the chat or user id to send to")
        if not isinstance(text, str) or not text.strip():
            raise ToolError("'text' must be a non-empty string")
        if not isinstance(channel, str):
            raise ToolError("'channel' must be a string")
        if len(text) > MAX_TEXT:
            raise ToolError(f"'text' is longer than {MAX_TEXT} characters")
        try:
            await self._send(channel, to.strip(), text)
        except ChannelError as exc:
            raise ToolError(f"sending to {channel}:{to} failed: {exc}") from exc
        return f"sent to {channel}:{to.strip()}"
