"""A scripted GatewayService for exercising the HTTP surface without the core (tests, benchmarks, demos).

It answers every message with the same script: tool events, text deltas, then a Reply; or it raises
a chosen error, returns None (a dropped message), or hangs until cancelled. It records what it got
and whether its turn saw the cancellation, which is how tests prove a client going away stops a turn.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import anyio

from rustyclaw.domain.events import Reply, ReplyDelta, ToolActivity
from rustyclaw.domain.messages import InboundMessage, Usage
from rustyclaw.ports.gateway import Emit, MediaResolver


class ScriptedGateway:
    """A GatewayService whose every turn plays the same script; change the attributes between calls."""

    def __init__(
        self,
        deltas: Sequence[str] = ("Hel", "lo!"),
        *,
        tools: Sequence[ToolActivity] = (),
        reply_text: str | None = None,
        reply_error: str | None = None,
        raises: Exception | None = None,
        drop: bool = False,
        hang: bool = False,
        command: str | None = None,
        model: str = "scripted-model",
        usage: Usage = Usage(prompt_tokens=7, completion_tokens=2),
    ) -> None:
        self.deltas = list(deltas)
        self.tools = list(tools)
        self.reply_text = reply_text
        self.reply_error = reply_error
        self.raises = raises
        self.drop = drop
        self.hang = hang
        self.command = command
        self.model = model
        self.usage = usage
        self.is_ready = True
        self.messages: list[InboundMessage] = []
        self.started = anyio.Event()
        self.cancelled = anyio.Event()

    def ready(self) -> bool:
        return self.is_ready

    async def status(self) -> dict[str, Any]:
        return {"messages": len(self.messages)}

    def reset_events(self) -> None:
        self.started = anyio.Event()
        self.cancelled = anyio.Event()

    async def handle(
        self, message: InboundMessage, emit: Emit | None = None, media: MediaResolver | None = None
    ) -> Reply | None:
        self.messages.append(message)
        self.started.set()
        try:
            return await self._play(message, emit)
        except anyio.get_cancelled_exc_class():
            self.cancelled.set()
            raise

    async def _play(self, message: InboundMessage, emit: Emit | None) -> Reply | None:
        if self.raises is not None:
            raise self.raises
        if self.drop:
            return None
        if emit is not None:
            for tool in self.tools:
                await emit(tool)
            for delta in self.deltas:
                await emit(ReplyDelta(text=delta))
        if self.hang:
            await anyio.sleep_forever()
        text = "".join(self.deltas) if self.reply_text is None else self.reply_text
        return Reply(
            text=text,
            session_key=f"agent:{message.agent_hint or 'main'}:{message.channel}:direct:{message.peer_id}",
            session_id="s-" + (message.session_hint or message.peer_id),
            model=self.model,
            usage=self.usage,
            error=self.reply_error,
            command=self.command,
        )
