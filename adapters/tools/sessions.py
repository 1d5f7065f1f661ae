"""`sessions_list`, `sessions_history`, `sessions_send`: the agent's own sessions, nobody else's.

`sessions_send` queues a user message into another session of the same agent: it is stored in
that session's transcript (marked with the sending session) and read by its next turn; no turn
is started and nothing is delivered to a channel.
"""

from __future__ import annotations

import time
from typing import Any

import anyio

from rustyclaw.domain.errors import ToolError
from rustyclaw.domain.messages import ChatMessage, SessionEntry
from rustyclaw.domain.session_keys import agent_of
from rustyclaw.domain.sessions import SessionService
from rustyclaw.ports.llm import ToolSpec
from rustyclaw.ports.tools import ToolContext

LIST_LIMIT = 20
HISTORY_DEFAULT = 10
HISTORY_MAX = 30
MESSAGE_CHARS = 400
SEND_CHARS = 4000
LOCK_WAIT = 10.0


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


class SessionsSendTool:
    """`sessions_send`: see the module docstring."""

    spec = ToolSpec(
        name="sessions_send", description="Queue a message into another of your sessions.",
        parameters={"type": "object", "properties": {"key": {"type": "string"}, "text": {"type": "string"}},
                    "required": ["key", "text"]},
    )

    def __init__(self, sessions: SessionService) -> None:
        self._sessions = sessions

    async def run(self, arguments: dict[str, Any], context: ToolContext) -> str:
        key = _key_arg(arguments, context)
        text = arguments.get("text")
        if not isinstance(text, str) or not text.strip():
            raise ToolError("'text' must be a non-empty string")
        if len(text) > SEND_CHARS:
            raise ToolError(f"'text' is longer than {SEND_CHARS} characters")
        if key == context.session_key:
            raise ToolError("that is this session; sessions_send is for other sessions")
        with anyio.move_on_after(LOCK_WAIT) as scope:
            async with self._sessions.turn(key):
                entry = await _existing(self._sessions, key)
                message = ChatMessage(role="user", content=text, created_at=time.time())
                message.meta["sender"] = f"session {context.session_key}"
                message.meta["fromSession"] = context.session_key
                await self._sessions.append(entry, [message])
        if scope.cancelled_caught:
            raise ToolError(f"session {key!r} is busy; try again later")
        return f"queued for {key}; it is read on that session's next turn"
