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
from rustyclaw.domain.policy import ConfiguredPolicy
from rustyclaw.domain.tools import ToolRegistry

if TYPE_CHECKING:
    from rustyclaw.adapters.mcp.manager import McpManager
    from rustyclaw.config.schema import RustyClawConfig


class McpSetup:
    def __init__(self, cfg: RustyClawConfig, state_dir: Path) -> None:
        known = set(cfg.mcp.servers)
        for i, agent in enumerate(cfg.agents.list):
            for name in agent.mcp or ():
                if name not in known:
                    raise ConfigError(
                        f"agents.list.{i}.mcp: {name!r} is not in mcp.servers "
                        f"(configured: {', '.join(sorted(known)) or 'none'})"
                    )
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

    async def start(self) -> None:
        if self.manager is not None:
            await self.manager.start()

    async def aclose(self) -> None:
        if self.manager is not None:
            await self.manager.aclose()

    def status(self) -> list[dict[str, Any]]:
        """One entry per server for `/readyz` and `rustyclaw status`; empty without MCP."""
        return self.manager.status_json() if self.manager is not None else []

    def healthy(self) -> bool:
        return self.manager is None or self.manager.healthy()
