"""The gateway as an MCP server (the SDK's server side), for other agents and editors.

Tools, named like OpenClaw's session tools:
- `sessions_list(agent?, limit?)`: sessions, most recently active first.
- `sessions_history(key, limit?)`: a session's transcript (user and assistant messages; 20 by
  default, at most 200, as OpenClaw's `messages_read`).
- `sessions_send(text, session?, agent?)`: one message through the gateway (commands, the agent's
  turn and its tools, policy as configured) and the reply. `session` names the conversation:
  `main` is the agent's main session, any other name gets its own `agent:<a>:mcp:direct:<name>`.

The MCP client is whoever spawned the process (stdio), so it is trusted like `rustyclaw chat`.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from rustyclaw.adapters.mcp.connection import import_sdk
from rustyclaw.domain.errors import InvalidInputError
from rustyclaw.domain.messages import InboundMessage
from rustyclaw.ports.gateway import GatewayService
from rustyclaw.ports.session_store import SessionStore

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

CHANNEL = "mcp"
HISTORY_DEFAULT = 20
HISTORY_MAX = 200
LIST_MAX = 500


def _when(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts)) if ts else ""


def build_gateway_server(
    gateway: GatewayService, store: SessionStore, *, default_agent: str, agent_ids: tuple[str, ...],
) -> MCPServer[Any]:
    import_sdk()
    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.exceptions import ToolError as McpToolError

    server: MCPServer[Any] = MCPServer(
        "rustyclaw",
        instructions="RustyClaw gateway: list sessions, read transcripts, send a message and get the reply.",
    )

    def agent_arg(agent: str | None) -> str:
        chosen = agent or default_agent
        if chosen not in agent_ids:
            raise McpToolError(f"unknown agent {chosen!r}; agents: {', '.join(agent_ids)}")
        return chosen

    @server.tool()
    async def sessions_list(agent: str | None = None, limit: int = 50) -> str:
        """List chat sessions (most recent first): key, channel, last update, tokens."""
        entries = await store.list_sessions(agent_arg(agent) if agent else None)
        entries.sort(key=lambda e: e.updated_at, reverse=True)
        rows = [{"key": e.key, "agent": e.agent_id, "channel": e.last_channel or e.channel,
                 "updatedAt": _when(e.updated_at), "tokens": e.total_tokens}
                for e in entries[: max(1, min(limit, LIST_MAX))]]
        return json.dumps({"sessions": rows, "total": len(entries)})

    @server.tool()
    async def sessions_history(key: str, limit: int = HISTORY_DEFAULT) -> str:
        """Read a session's recent user and assistant messages (limit 20 by default, at most 200)."""
        entry = await store.get_session(key)
        if entry is None:
            raise McpToolError(f"no session {key!r} (see sessions_list)")
        messages = [m for m in await store.load_messages(entry) if m.role in ("user", "assistant") and m.content]
        shown = messages[-max(1, min(limit, HISTORY_MAX)):]
        return json.dumps({"key": key, "sessionId": entry.session_id, "messages": [
            {"role": m.role, "text": m.content, "at": _when(m.created_at)} for m in shown]})

    @server.tool()
    async def sessions_send(text: str, session: str = "main", agent: str | None = None) -> str:
        """Send a message to a session (the agent answers it, tools included) and return the reply."""
        if not text.strip():
            raise McpToolError("'text' is empty")
        message = InboundMessage(
            channel=CHANNEL, peer_id="mcp-client", sender_id="mcp-client", sender_name="MCP client",
            text=text, session_hint=session.strip() or "main", agent_hint=agent_arg(agent), received_at=time.time(),
        )
        try:
            reply = await gateway.handle(message)
        except InvalidInputError as exc:
            raise McpToolError(str(exc)) from exc
        if reply is None:
            raise McpToolError("the gateway dropped the message")
        if reply.error:
            raise McpToolError(reply.text)
        return json.dumps({"reply": reply.text, "sessionKey": reply.session_key, "model": reply.model})

    return server
