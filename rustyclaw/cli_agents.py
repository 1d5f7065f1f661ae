"""`rustyclaw agents list|show`: the configured agents, what each one has, and which traffic is bound to it.

Reads the configuration only (through load_settings, so it refuses what `serve` refuses); nothing starts.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from rustyclaw.config.sandbox import SandboxConfig
from rustyclaw.domain.bindings import Binding
from rustyclaw.domain.errors import RustyClawError
from rustyclaw.settings import Settings


def add_agents_parser(sub: Any) -> None:
    agents = sub.add_parser("agents", help="the configured agents and their bindings")
    actions = agents.add_subparsers(dest="action", required=True, metavar="ACTION")

    def common(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--config", metavar="PATH", help="configuration file (YAML, JSON or TOML)")
        p.add_argument("--json", action="store_true", help="print JSON")
        p.set_defaults(handler="rustyclaw.cli_agents:run_agents")
        return p

    common(actions.add_parser("list", help="every agent, its workspace, model and bindings"))
    common(actions.add_parser("show", help="one agent in full")).add_argument("agent_id", metavar="AGENT")


def agent_summary(settings: Settings, agent_id: str) -> dict[str, Any]:
    """What one agent gets: its folder, model route, tool policy, sandbox, MCP servers, skills, bindings."""
    from rustyclaw.tools_setup import workspace_resolver

    cfg = settings.config
    own = next((a for a in cfg.agents.list if a.id == agent_id), None)
    route = cfg.llm.routes["default"]
    workspace = workspace_resolver(cfg, Path(cfg.agents.workspace))(agent_id)
    return {
        "id": agent_id,
        "default": agent_id == cfg.agents.default_agent,
        "workspace": str(workspace),
        "model": (own.model if own is not None and own.model else route.primary),
        "modelFrom": "agents.list[].model" if own is not None and own.model else "llm.routes.default",
        # The agent's own task routes (agents.list[].routes), each as its chain: primary, fallbacks.
        "routes": {task: [r.primary, *r.fallbacks] for task, r in own.routes.items()} if own is not None else {},
        "tools": {
            "profile": cfg.tools.profile,
            "allow": list(own.tools.allow) if own is not None and own.tools is not None else [],
            "deny": list(own.tools.deny) if own is not None and own.tools is not None else [],
        },
        "sandbox": _sandbox(cfg.sandbox.for_agent(own.sandbox if own is not None else None)),
        "mcp": list(own.mcp) if own is not None and own.mcp is not None else "all",
        "skills": list(own.skills) if own is not None and own.skills is not None else "all",
        "bindings": [_binding(b) for b in settings.agents.bindings if b.agent_id == agent_id],
    }


def _sandbox(box: SandboxConfig) -> dict[str, str]:
    """The agent's sandbox as it runs: its own agents.list[].sandbox settings over the shared ones."""
    return {"mode": box.mode, "scope": box.scope, "workspaceAccess": box.workspace_access,
            "image": box.docker.image, "network": box.docker.network}


def _binding(binding: Binding) -> dict[str, Any]:
    match: dict[str, Any] = {"channel": binding.channel}
    if binding.account_id is not None:
        match["accountId"] = binding.account_id
    if binding.peer is not None:
        match["peer"] = {"kind": binding.peer.kind, "id": binding.peer.id}
    if binding.guild_id is not None:
        match["guildId"] = binding.guild_id
    if binding.team_id is not None:
        match["teamId"] = binding.team_id
    return match


def _describe(binding: dict[str, Any]) -> str:
    parts = [str(binding["channel"])]
    if "accountId" in binding:
        parts.append(f"account {binding['accountId']}")
    if "peer" in binding:
        parts.append(f"peer {binding['peer']['kind']}:{binding['peer']['id']}")
    for key, label in (("guildId", "guild"), ("teamId", "team")):
        if key in binding:
            parts.append(f"{label} {binding[key]}")
    return " ".join(parts)


def _print_full(summary: dict[str, Any]) -> None:
    print(f"{summary['id']}{'  (default)' if summary['default'] else ''}")
    print(f"  workspace: {summary['workspace']}")
    print(f"  model:     {summary['model']}  (from {summary['modelFrom']})")
    for task, chain in summary["routes"].items():
        print(f"  route:     {task} -> {' > '.join(chain)}")
    tools = summary["tools"]
    print(f"  tools:     profile {tools['profile']}; allow {tools['allow'] or '-'}; deny {tools['deny'] or '-'}")
    box = summary["sandbox"]
    print(f"  sandbox:   mode {box['mode']}, scope {box['scope']}, workspace {box['workspaceAccess']}, "
          f"image {box['image']}, network {box['network']}")
    print(f"  mcp:       {summary['mcp']}")
    print(f"  skills:    {summary['skills']}")
    bindings = summary["bindings"]
    print("  bindings:  " + ("; ".join(_describe(b) for b in bindings) if bindings else
                             ("everything unbound" if summary["default"] else "none")))


def run_agents(args: argparse.Namespace) -> int:
    from rustyclaw.settings import load_settings

    settings = load_settings(args.config)
    ids = settings.agents.agent_ids
    if args.action == "show":
        if args.agent_id not in ids:
            raise RustyClawError(f"no agent {args.agent_id!r} (configured: {', '.join(ids)})")
        summary = agent_summary(settings, args.agent_id)
        if args.json:
            print(json.dumps(summary, indent=2))
        else:
            _print_full(summary)
        return 0
    summaries = [agent_summary(settings, agent_id) for agent_id in ids]
    if args.json:
        print(json.dumps(summaries, indent=2))
        return 0
    for s in summaries:
        bound = "; ".join(_describe(b) for b in s["bindings"]) or ("(default)" if s["default"] else "-")
        print(f"{s['id']}\t{s['model']}\t{s['workspace']}\t{bound}")
    return 0
