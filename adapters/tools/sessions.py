"""`sessions_list`, `sessions_history`: the agent's own sessions, nobody else's.

`sessions_send` and `sessions_spawn`, which start turns in other sessions, are in session_turns.py.
"""

from __future__ import annotations

import time
from typing import Any

from rustyclaw.domain.errors import ToolError
from rustyclaw.domain.messages import SessionEntry
from rustyclaw.domain.session_keys import agent_of
from rustyclaw.domain.sessions import SessionService
from rustyclaw.ports.llm import ToolSpec
from rustyclaw.ports.tools import ToolContext

LIST_LIMIT = 20
HISTORY_DEFAULT = 10
HISTORY_MAX = 30
MESSAGE_CHARS = 400


def _key_arg(arguments: dict[str, Any], context: ToolContext) -> str:
    key = arguments.get("key")
    if not isinstance(key, str) or not key.strip():
        raise ToolError("'key' must be a session key from sessions_list")
    key = key.strip()
    if agent_of(key) != context.agent_id:
        raise ToolError(f"session {key!r} belongs to another agent")
    return key


async def _existing(sessions: SessionService, key: str) -> SessionEntry:
    entry = await sessions.store.get_session(key)
    if entry is None:
        raise ToolError(f"no session {key!r}")
    return entry


class SessionsListTool:
    """`sessions_list`: this agent's sessions, most recently active first."""

    spec = ToolSpec(name="sessions_list", description="List your chat sessions.")

    def __init__(self, sessions: SessionService) -> None:
        self._sessions = sessions

    async def run(self, arguments: dict[str, Any], context: ToolContext) -> str:
        entries = await self._sessions.store.list_sessions(context.agent_id)
        entries.sort(key=lambda e: e.updated_at, reverse=True)
        lines = [
            f"{e.key} channel={e.last_channel or e.channel or '-'} "
            f"updated={time.strftime('%Y-%m-%d %H:%M', time.gmtime(e.updated_at))}Z"
            + (" (this session)" if e.key == context.session_key else "")
            for e in entries[:LIST_LIMIT]
        ]
        more = len(entries) - LIST_LIMIT
        return "\n".join(lines + ([f"... and {more} more"] if more > 0 else [])) or "no sessions"


class SessionsHistoryTool:
    """`sessions_history`: the last messages of one of this agent's sessions, each cut short."""

    spec = ToolSpec(
        name="sessions_history", description="Show recent messages of a session.",
        parameters={"type": "object", "properties": {"key": {"type": "string"}, "limit": {"type": "integer"}},
                    "required": ["key"]},
    )

    def __init__(self, sessions: SessionService) -> None:
        self._sessions = sessions

    async def run(self, arguments: dict[str, Any], context: ToolContext) -> str:
        key = _key_arg(arguments, context)
        limit = arguments.get("limit", HISTORY_DEFAULT)
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            raise ToolError("'limit' must be a positive integer")
        entry = await _existing(self._sessions, key)
        messages = [m for m in await self._sessions.history(entry) if m.role in ("user", "assistant")]
        lines = []
        for message in messages[-min(limit, HISTORY_MAX):]:
            text = " ".join(message.content.split())
            if len(text) > MESSAGE_CHARS:
                text = text[:MESSAGE_CHARS] + "..."
            lines.append(f"{message.role}: {text}")
        return "\n".join(lines) or "no messages"
