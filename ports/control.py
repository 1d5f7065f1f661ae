"""The driving side of the control UI and the web chat's conversation list.

What the owner of a gateway may look at and change from a browser: sessions (list, transcript,
reset, rename, hide), channels' live state, pairing requests, agents, cron jobs, the audit log,
token usage, MCP servers and skills, and the effective configuration with secrets hidden. The HTTP adapter calls it; the
composition root implements it over the stores and services it built (rustyclaw/control_setup.py).
"""

from __future__ import annotations

from typing import Protocol

import msgspec


class SessionView(msgspec.Struct, frozen=True, kw_only=True):
    key: str
    session_id: str
    agent_id: str
    channel: str | None
    title: str
    created_at: float
    updated_at: float
    messages: int
    input_tokens: int
    output_tokens: int
    model: str | None = None


class TranscriptLine(msgspec.Struct, frozen=True, kw_only=True):
    """One message as a person reads it; `status` marks a reply that was cut or failed."""

    role: str
    content: str
    created_at: float
    name: str | None = None
    status: str | None = None


class ChannelView(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    account: str
    state: str
    last_error: str | None = None
    restarts: int = 0


class PairingView(msgspec.Struct, frozen=True, kw_only=True):
    channel: str
    code: str
    sender_id: str
    sender_name: str
    created_at: float


class AgentView(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    model: str
    default: bool


class CronView(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    schedule: str
    next_run: float | None
    last_run: float | None
    last_status: str | None
    last_error: str | None
    runs: int
    running: bool


class AuditView(msgspec.Struct, frozen=True, kw_only=True):
    at: float
    tool: str
    decision: str
    session_key: str
    detail: str


class DailyUsage(msgspec.Struct, frozen=True, kw_only=True):
    day: str  # YYYY-MM-DD in the gateway's time zone
    input_tokens: int
    output_tokens: int


class McpToolView(msgspec.Struct, frozen=True, kw_only=True):
    name: str  # as the agents see it (`<server>__<tool>`)
    remote_name: str  # as the server lists it
    description: str


class McpServerView(msgspec.Struct, frozen=True, kw_only=True):
    """One configured MCP server; never its env or header values."""

    name: str
    transport: str
    enabled: bool
    lazy: bool
    state: str  # connected, starting, down, idle (lazy, not started yet) or disabled
    status: str  # the connection's own word: ready, starting, backoff, stopped, idle, disabled
    launch: str  # the command line or the URL without credentials
    restarts: int
    error: str | None = None
    retry_in: float | None = None  # seconds until the next restart attempt (restart backoff)
    tools: list[McpToolView] = []


class SkillView(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    description: str
    source: str  # workspace, managed, extra or plugin
    root: str  # the skill root it was found under
    path: str  # its SKILL.md
    enabled: bool  # not switched off in skills.entries
    eligible: bool  # this host meets its requirements
    missing: list[str] = []  # what is not met, one reason each
    agents: list[str] = []  # the agents that may use it
    warnings: list[str] = []


class SkillsView(msgspec.Struct, frozen=True, kw_only=True):
    enabled: bool  # skills.enabled
    skills: list[SkillView] = []
    warnings: list[str] = []  # skipped SKILL.md files and why


class ControlPlane(Protocol):
    def conversation_key(self, session: str, agent: str, channel: str) -> str:
        """The session key a driving adapter's own session id (the web page's) maps to."""
        ...

    async def sessions(self, query: str = "", channel: str | None = None) -> list[SessionView]:
        """Newest first; `query` matches key, title or transcript text (case-insensitive)."""
        ...

    async def transcript(self, key: str) -> list[TranscriptLine] | None:
        """None for an unknown key."""
        ...

    async def reset(self, key: str) -> bool:
        """Archives the transcript and starts the key afresh; False for an unknown key."""
        ...

    async def rename(self, key: str, title: str) -> bool: ...

    async def hide(self, key: str) -> bool:
        """The chat page's "delete": archived (kept, like /new) and left out of the list."""
        ...

    async def channels(self) -> list[ChannelView]: ...

    async def pairing_requests(self) -> list[PairingView]: ...

    async def approve(self, channel: str, code: str) -> bool: ...

    async def deny(self, channel: str, code: str) -> bool: ...

    def agents(self) -> list[AgentView]: ...

    def cron_jobs(self) -> list[CronView]: ...

    async def run_cron(self, job_id: str) -> bool:
        """Starts the job now (its result shows in `cron_jobs`); False for an unknown id."""
        ...

    async def audit(self, limit: int = 200) -> list[AuditView]: ...

    async def usage(self, days: int = 14) -> list[DailyUsage]: ...

    def mcp_servers(self) -> list[McpServerView]:
        """Every configured MCP server with its live state and tools (empty without mcp.servers)."""
        ...

    async def skills(self) -> SkillsView:
        """Every discovered skill for every agent, gated or not, with what its requirements miss."""
        ...

    def config(self) -> str:
        """The effective configuration as YAML, every secret replaced by a marker."""
        ...
