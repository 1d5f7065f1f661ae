"""Tools the model can call (built-in, sandboxed, from plugins)."""

from __future__ import annotations

from typing import Any, Protocol

import msgspec

from rustyclaw.ports.llm import ToolSpec


class ToolContext(msgspec.Struct, frozen=True, kw_only=True):
    """Who is calling, so a tool can scope what it does (workspace, session, sandbox)."""

    agent_id: str
    session_key: str
    session_id: str
    channel: str
    sender_id: str
    elevated: bool = False
    # The session's model ref (`provider/model`), for per-provider tool policy; "" when unknown.
    model: str = ""


class Tool(Protocol):
    """Returns the text that goes back to the model; raises ToolError for a failure to report."""

    spec: ToolSpec

    async def run(self, arguments: dict[str, Any], context: ToolContext) -> str: ...
