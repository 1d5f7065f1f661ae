"""The control page's MCP and skills tabs: views of the McpManager (adapters/mcp/) and the
SkillCatalog (adapters/skills/) the core built, for GatewayControl (rustyclaw/control_setup.py).

Nothing here shows an MCP server's env or header values: the launch line is the server's own
`launch()` (command and arguments, or the URL without credentials), and every text that could
echo a configured secret (the launch line, an error) has the loaded secrets replaced by `***`,
as `/readyz` does.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from rustyclaw.ports.control import McpServerView, McpToolView, SkillsView, SkillView

if TYPE_CHECKING:
    from rustyclaw.adapters.mcp.manager import McpManager
    from rustyclaw.adapters.skills.catalog import SkillCatalog
    from rustyclaw.domain.skills import Skill

# The connection's status words (adapters/mcp/connection.py) as a person reads them.
_STATES = {"ready": "connected", "starting": "starting", "backoff": "down", "stopped": "down",
           "idle": "idle", "disabled": "disabled"}
# Secrets shorter than this are not replaced: "on" or "1" would blank out ordinary words.
MIN_SECRET_CHARS = 4


def redact(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        if len(secret) >= MIN_SECRET_CHARS:
            text = text.replace(secret, "***")
    return text


def mcp_views(manager: McpManager | None, secrets: Sequence[str] = ()) -> list[McpServerView]:
    if manager is None:
        return []
    tools: dict[str, list[McpToolView]] = {}
    for tool in manager.tools():
        tools.setdefault(tool.server, []).append(
            McpToolView(name=tool.spec.name, remote_name=tool.remote_name, description=tool.spec.description))
    views = []
    for status in manager.status():
        settings = manager.connections[status.name].settings
        views.append(McpServerView(
            name=status.name, transport=status.transport, enabled=settings.enabled, lazy=settings.lazy,
            state=_STATES.get(status.status, status.status), status=status.status,
            launch=redact(status.launch, secrets), restarts=status.restarts,
            error=redact(status.error, secrets) if status.error else None, retry_in=status.retry_in,
            tools=tools.get(status.name, []),
        ))
    return views


def _root_of(skill: Skill, roots: Sequence[tuple[str, Path]]) -> str:
    location = Path(skill.location)
    for source, root in roots:
        if source == skill.source and location.is_relative_to(root):
            return str(root)
    return skill.folder


def skills_view(catalog: SkillCatalog | None, agent_ids: Sequence[str]) -> SkillsView:
    """Every agent's skills (precedence applied, not gated), one row per SKILL.md with the agents
    that may use it; a skill every agent shares (managed, extra, plugin) shows once."""
    if catalog is None:
        return SkillsView(enabled=False)
    rules = catalog.rules
    found: dict[str, tuple[Skill, str, list[str]]] = {}
    warnings: list[str] = []
    for agent in agent_ids:
        skills, met = catalog.all_skills(agent)
        warnings += [w for w in met if w not in warnings]
        roots = catalog.roots.for_agent(agent)
        allowed = rules.by_agent.get(agent)
        for skill in skills:
            held = found.setdefault(skill.location, (skill, _root_of(skill, roots), []))
            if skill.name not in rules.disabled and (allowed is None or skill.name in allowed):
                held[2].append(agent)
    views = []
    for skill, root, agents in sorted(found.values(), key=lambda item: (item[0].name, item[0].location)):
        missing = catalog.unmet(skill)
        views.append(SkillView(
            name=skill.name, description=skill.description, source=skill.source, root=root,
            path=skill.location, enabled=skill.name not in rules.disabled, eligible=not missing,
            missing=missing, agents=agents, warnings=list(skill.warnings),
        ))
    return SkillsView(enabled=catalog.enabled, skills=views, warnings=warnings)
