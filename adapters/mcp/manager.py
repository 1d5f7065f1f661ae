"""Every configured MCP server, its tools in the agent's registry, and the state `/readyz` reports.

    mcp = McpManager(mcp_settings(cfg.mcp, state_dir), agent_servers={"ops": ("files",)})
    mcp.attach(registry.register)        # tools join the registry as servers list them
    policy = ConfiguredPolicy(settings, chain_gates(exec_gate(...), mcp.agent_gate),
                              groups=mcp.groups)
    await mcp.start()                    # eager servers connected (bounded by their connect timeout)
    ...
    mcp.status()                         # one ServerStatus per server
    await mcp.aclose()                   # stdio servers stopped (process trees), HTTP sessions ended

Each server is held by its own asyncio task (not a task group of the caller's), so `start()` and
`aclose()` may be called from any task of the loop and the core's lifecycle stays start/aclose.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from fnmatch import fnmatchcase
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import msgspec

from rustyclaw.adapters.mcp.connection import McpConnection, ServerStatus
from rustyclaw.adapters.mcp.naming import tool_name, unique_prefixes
from rustyclaw.adapters.mcp.results import result_text
from rustyclaw.adapters.mcp.settings import McpSettings, ServerSettings
from rustyclaw.domain.tools import PolicyDecision
from rustyclaw.ports.llm import ToolSpec
from rustyclaw.ports.tools import Tool, ToolContext

if TYPE_CHECKING:
    from mcp_types import Tool as McpToolInfo

log = logging.getLogger("rustyclaw.mcp")

GROUP_ALL = "group:mcp"
# OpenClaw's plugin key for configured MCP servers' tools; accepted as a synonym of group:mcp.
OPENCLAW_KEY = "bundle-mcp"
MAX_DESCRIPTION_CHARS = 300


def server_group(server_prefix: str) -> str:
    return f"{GROUP_ALL}:{server_prefix}"


class McpTool:
    """One MCP server tool as an agent tool: `<server>__<tool>`, run through the server's connection."""

    def __init__(self, connection: McpConnection, remote_name: str, spec: ToolSpec) -> None:
        self.spec = spec
        self.remote_name = remote_name
        self.server = connection.settings.name
        self._connection = connection

    async def run(self, arguments: dict[str, Any], context: ToolContext) -> str:
        result = await self._connection.call(self.remote_name, arguments)
        return result_text(result, self._connection.settings.max_result_chars)


def _selected(settings: ServerSettings, name: str) -> bool:
    if settings.include and not any(fnmatchcase(name, p) for p in settings.include):
        return False
    return not any(fnmatchcase(name, p) for p in settings.exclude)


def _lean_schema(node: Any) -> Any:
    """A JSON Schema without what costs the model tokens and tells it nothing: `title`s (SDKs derive
    them from names: `{"title": "A"}` for `a`) and `$schema`. Property names are kept, even "title"."""
    if isinstance(node, list):
        return [_lean_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("title", "$schema") and isinstance(value, str):
            continue
        if key in ("properties", "$defs", "definitions", "patternProperties") and isinstance(value, dict):
            out[key] = {k: _lean_schema(v) for k, v in value.items()}
        elif key in ("items", "additionalProperties", "anyOf", "oneOf", "allOf", "not", "prefixItems"):
            out[key] = _lean_schema(value)
        else:
            out[key] = value
    return out


def _spec(name: str, info: McpToolInfo) -> ToolSpec:
    description = (info.description or info.title or info.name).strip()
    if len(description) > MAX_DESCRIPTION_CHARS:
        description = description[: MAX_DESCRIPTION_CHARS - 3] + "..."
    schema = _lean_schema(dict(info.input_schema)) if info.input_schema else {"type": "object", "properties": {}}
    return ToolSpec(name=name, description=description, parameters=schema)


class McpManager:
    def __init__(self, settings: McpSettings, *, agent_servers: Mapping[str, tuple[str, ...]] | None = None) -> None:
        self.settings = settings
        self._agent_servers = dict(agent_servers or {})
        self._prefixes = unique_prefixes(s.name for s in settings.servers)
        self.connections: dict[str, McpConnection] = {
            s.name: McpConnection(
                s, backoff=settings.restart_backoff, backoff_max=settings.restart_max,
                ping_interval=settings.ping_interval, stderr_path=self._stderr_for(s), on_tools=self._listed,
            )
            for s in settings.servers
        }
        self._tools: dict[str, McpTool] = {}
        self._owner: dict[str, str] = {}
        self._by_server: dict[str, dict[str, McpTool]] = {}
        self._registers: list[Callable[[Tool], None]] = []
        self._tasks: list[asyncio.Task[None]] = []
        # group name -> exposed tool names; read live by the policy (servers list tools after start).
        self.groups: dict[str, tuple[str, ...]] = {GROUP_ALL: (), OPENCLAW_KEY: ()}

    def _stderr_for(self, s: ServerSettings) -> Path | None:
        if s.transport != "stdio" or self.settings.log_dir is None:
            return None
        return self.settings.log_dir / f"mcp-{self._prefixes[s.name]}.log"

    # -- registry side -------------------------------------------------------------------------

    def attach(self, register: Callable[[Tool], None]) -> None:
        """`register` (a ToolRegistry's) hears every MCP tool, those known now and those listed later."""
        self._registers.append(register)
        for tool in self._tools.values():
            register(tool)

    def tools(self) -> list[McpTool]:
        return [self._tools[name] for name in sorted(self._tools)]

    def server_of(self, tool: str) -> str | None:
        """The server behind an exposed name, matched without case (the policy lower-cases names)."""
        return self._owner.get(tool.lower())

    def _cache_file(self, s: ServerSettings) -> Path | None:
        if self.settings.cache_dir is None:
            return None
        return self.settings.cache_dir / f"{self._prefixes[s.name]}.tools.json"

    def _cached(self, s: ServerSettings) -> list[McpToolInfo] | None:
        """The tools a lazy server listed when it last ran; None when unknown or unreadable."""
        path = self._cache_file(s)
        if path is None or not path.is_file():
            return None
        from mcp_types import Tool as McpToolInfo

        try:
            raw = msgspec.json.decode(path.read_bytes())
            if raw.get("launch") != s.launch():
                return None  # another command or URL: its old tools say nothing
            return [McpToolInfo.model_validate(t) for t in raw["tools"]]
        except (OSError, msgspec.DecodeError, ValueError, KeyError, TypeError, AttributeError):
            log.warning("mcp server %s: ignoring an unreadable tool cache %s", s.name, path)
            return None

    def _remember(self, s: ServerSettings, infos: list[McpToolInfo]) -> None:
        path = self._cache_file(s)
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            body = {"launch": s.launch(), "tools": [t.model_dump(mode="json", by_alias=True, exclude_none=True)
                                                     for t in infos]}
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(msgspec.json.encode(body))
            tmp.replace(path)
        except OSError as exc:
            log.warning("mcp server %s: cannot write its tool cache: %s", s.name, exc)

    def _listed(self, settings: ServerSettings, infos: list[McpToolInfo], *, remember: bool = True) -> None:
        if remember:
            self._remember(settings, infos)
        prefix = self._prefixes[settings.name]
        connection = self.connections[settings.name]
        taken = {n for server, tools in self._by_server.items() if server != settings.name for n in tools}
        fresh: dict[str, McpTool] = {}
        for info in infos:
            if not _selected(settings, info.name):
                continue
            name = tool_name(prefix, info.name, taken)
            fresh[name] = McpTool(connection, info.name, _spec(name, info))
        for gone in set(self._by_server.get(settings.name, {})) - set(fresh):
            self._tools.pop(gone, None)
        self._by_server[settings.name] = fresh
        self._tools.update(fresh)
        for tool in fresh.values():
            for register in self._registers:
                register(tool)
        self._owner = {name.lower(): tool.server for name, tool in self._tools.items()}
        # Lower-cased like the names the policy compares (`canonical`).
        self.groups[server_group(prefix)] = tuple(sorted(n.lower() for n in fresh))
        every = tuple(sorted(self._owner))
        self.groups[GROUP_ALL] = every
        self.groups[OPENCLAW_KEY] = every

    def agent_gate(self, tool: str, context: ToolContext) -> PolicyDecision | None:
        """A policy gate: an agent with `agents.list[].mcp` set gets only the servers it lists."""
        server = self.server_of(tool)
        if server is None:
            return None
        allowed = self._agent_servers.get(context.agent_id)
        if allowed is None or server in allowed:
            return None
        return PolicyDecision(verdict="deny", rule=f"agents[{context.agent_id}].mcp does not list {server}")

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self, *, wait: bool = True) -> None:
        """Starts every enabled server's task; with `wait`, returns once each eager server is ready or
        has failed its first attempt (each bounded by its connect timeout)."""
        for s in self.settings.servers:
            # Lazy servers' remembered tools are offered before they run (read here: no I/O when built).
            if s.enabled and s.lazy and s.name not in self._by_server:
                cached = self._cached(s)
                if cached is not None:
                    self._listed(s, cached, remember=False)
        for connection in self.connections.values():
            if connection.settings.enabled:
                self._tasks.append(asyncio.create_task(connection.run(), name=f"mcp:{connection.settings.name}"))
                if connection.settings.lazy and connection.settings.name not in self._by_server:
                    # A lazy server never seen before is started once in the background to learn its
                    # tools (not waited for); later starts offer the remembered tools and connect on use.
                    connection.want()
        if not wait:
            return
        eager = [c for c in self.connections.values() if c.settings.enabled and not c.settings.lazy]
        if not eager:
            return
        async with anyio.create_task_group() as tg:
            for connection in eager:
                tg.start_soon(connection.settled)

    def status(self) -> list[ServerStatus]:
        return [c.status() for c in self.connections.values()]

    def status_json(self) -> list[dict[str, Any]]:
        return [msgspec.to_builtins(s) for s in self.status()]

    def healthy(self) -> bool:
        """Every enabled eager server is ready (lazy ones count when idle)."""
        return all(
            s.status == "ready" or (s.status in ("idle", "disabled"))
            for s in self.status()
        )

    async def aclose(self) -> None:
        for connection in self.connections.values():
            connection.close()
        if self._tasks:
            with anyio.CancelScope(shield=True):
                _, pending = await asyncio.wait(self._tasks, timeout=10)
                for task in pending:
                    task.cancel()
                for task in self._tasks:
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task
        self._tasks.clear()
