"""Tools that need nothing but the core itself."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rustyclaw.domain.messages import SessionEntry
from rustyclaw.ports.llm import ToolSpec
from rustyclaw.ports.session_store import SessionStore
from rustyclaw.ports.tools import ToolContext


class SessionStatusTool:
    """`session_status`: OpenClaw's minimal-profile tool; lets the model see its own session."""

    spec = ToolSpec(
        name="session_status",
        description="Show this chat session's id, model and token use.",
        parameters={"type": "object", "properties": {}},
    )

    def __init__(self, store: SessionStore, model_of: Callable[[SessionEntry], str]) -> None:
        self._store = store
        self._model_of = model_of

    async def run(self, arguments: dict[str, Any], context: ToolContext) -> str:
        entry = await self._store.get_session(context.session_key)
        if entry is None:
            return f"session {context.session_key} has no stored state yet"
        return (
            f"session={entry.key} id={entry.session_id} model={self._model_of(entry)} "
            f"tokens_in={entry.input_tokens} tokens_out={entry.output_tokens} "
            f"channel={context.channel}"
        )
