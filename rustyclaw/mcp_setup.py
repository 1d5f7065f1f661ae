"""MCP servers' tools for the core (composition-root side): built from `mcp.servers` only when some
server is configured, so a gateway without MCP never imports the MCP adapter or the SDK.

    mcp = McpSetup(cfg, state_dir)
    mcp.attach(tool_setup.registry, tool_setup.policy)   # tools, groups and the per-agent gate
    await mcp.start(); ...; mcp.status(); await mcp.aclose()
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from rustyclaw.domain.errors import ConfigError
from rustyclaw.domain.policy import ConfiguredPolicy, session_sandboxed
from rustyclaw.domain.tools import PolicyDecision, ToolRegistry
from rustyclaw.ports.tools import ToolContext

if TYPE_CHECKING:
    from rustyclaw.adapters.mcp.manager import McpManager
    from rustyclaw.config.schema import RustyClawConfig


def mcp_problems(cfg: RustyClawConfig) -> list[tuple[str, str]]:
    """What the schema cannot see alone: server names used by other keys must be configured
    (a check of rustyclaw/checks.py, so `config validate` refuses what serve would)."""
    known = set(cfg.mcp.servers)
    listing = ", ".join(sorted(known)) or "none"
    problems = [
        (f"agents.list.{i}.mcp", f"{name!r} is not in mcp.servers (configured: {listing})")
        for i, agent in enumerate(cfg.agents.list) for name in agent.mcp or () if name not in known
    ]
    problems += [("mcp.allowInSandbox", f"{name!r} is not in mcp.servers (configured: {listing})")
                 for name in cfg.mcp.allow_in_sandbox if name != "*" and name not in known]
    return problems


class McpSetup:
    def __init__(self, cfg: RustyClawConfig, state_dir: Path) -> None:
        problems = mcp_problems(cfg)
        if problems:
            raise ConfigError("; ".join(f"{path}: {message}" for path, message in problems))
        self._sandbox_mode = cfg.sandbox.mode
        # agents.list[].sandbox.mode: an agent sandboxed on its own is held to the same rule.
        self._agent_modes = {a.id: a.sandbox.mode for a in cfg.agents.list
                             if a.sandbox is not None and a.sandbox.mode is not None}
        self._main_key = cfg.sessions.main_key
        self._sandbox_allow = frozenset(cfg.mcp.allow_in_sandbox)
        self.manager: McpManager | None = None
        if cfg.mcp.servers:
            from rustyclaw.adapters.mcp.manager import McpManager
            from rustyclaw.adapters.mcp.settings import mcp_settings

            self.manager = McpManager(
                mcp_settings(cfg.mcp, state_dir),
                agent_servers={a.id: tuple(a.mcp) for a in cfg.agents.list if a.mcp is not None},
            )

    def attach(self, registry: ToolRegistry, policy: ConfiguredPolicy) -> None:
        """Servers' tools join `registry` as they are listed; the policy learns their groups
        (`group:mcp`, `group:mcp:<server>`, `bundle-mcp`) and which agent may use which server."""
        if self.manager is None:
            return
        self.manager.attach(registry.register)
        policy.groups = self.manager.groups
        policy.add_gate(self.manager.agent_gate)
        policy.add_gate(self.sandbox_gate)

    def sandbox_gate(self, tool: str, context: ToolContext) -> PolicyDecision | None:
        """MCP servers run on the host: a sandboxed session may use only those in mcp.allowInSandbox."""
        server = self.manager.server_of(tool) if self.manager is not None else None
        if server is None or "*" in self._sandbox_allow or server in self._sandbox_allow:
            return None
        main = f"agent:{context.agent_id}:{self._main_key}"
        mode = self._agent_modes.get(context.agent_id, self._sandbox_mode)
        if not session_sandboxed(mode, context.session_key, main):
            return None
        return PolicyDecision(
            verdict="deny", rule=f"sandbox.mode {mode}: MCP server {server} runs on the host "
                                 "(list it in mcp.allowInSandbox)",
        )

    async def start(self) -> None:
        if self.manager is not None:
            await self.manager.start()

    async def aclose(self) -> None:
        if self.manager is not None:
            await self.manager.aclose()

    def status(self) -> dict[str, dict[str, Any]]:
        """Each server by name (like /readyz's channels) for `/readyz` and `rustyclaw status`."""
        if self.manager is None:
            return {}
        return {entry.pop("name"): entry for entry in self.manager.status_json()}

    def healthy(self) -> bool:
        return self.manager is None or self.manager.healthy()
