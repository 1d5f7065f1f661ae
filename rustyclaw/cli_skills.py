"""`rustyclaw skills list|info|check|install`: the skills an agent sees, why others are not offered,
and installing one from a folder or archive after showing what it asks for (nothing is executed)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rustyclaw.adapters.skills.catalog import SkillCatalog
    from rustyclaw.config.schema import RustyClawConfig
    from rustyclaw.domain.skills import Skill


def add_skills_parser(sub: Any) -> None:
    skills = sub.add_parser("skills", help="skills (SKILL.md folders): list, info, check, install")
    actions = skills.add_subparsers(dest="action", required=True, metavar="ACTION")

    def common(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--config", metavar="PATH", help="configuration file (YAML, JSON or TOML)")
        p.add_argument("--agent", help="the agent whose skills to look at (default: agents.defaultAgent)")
        p.set_defaults(handler="rustyclaw.cli_skills:run_skills")
        return p

    common(actions.add_parser("list", help="every skill found, and whether the agent gets it")).add_argument(
        "--json", action="store_true")
    common(actions.add_parser("info", help="one skill: where it is, what it needs")).add_argument("name")
    common(actions.add_parser("check", help="which skills are ready, which are not and why, format problems"))
    install = common(actions.add_parser("install", help="install a skill folder or .zip/.tar(.gz) archive"))
    install.add_argument("path", help="a skill folder (with SKILL.md) or an archive of one")
    install.add_argument("--global", dest="shared", action="store_true",
                         help="into <stateDir>/skills for every agent (default: the agent's workspace skills/)")
    install.add_argument("--force", action="store_true", help="replace a skill of the same name")
    install.add_argument("--dry-run", action="store_true", help="check and report only")


def run_skills(args: argparse.Namespace) -> int:
    from rustyclaw.adapters.skills.settings import skill_catalog
    from rustyclaw.settings import load_settings
    from rustyclaw.tools_setup import workspace_resolver

    settings = load_settings(args.config)
    cfg = settings.config
    agent = args.agent or cfg.agents.default_agent
    workspace_of = workspace_resolver(cfg, Path(cfg.agents.workspace))
    catalog = skill_catalog(cfg, workspace_of, settings.state_dir)
    if args.action == "install":
        return _install(cfg, args, workspace_of(agent) / "skills", settings.state_dir)
    if args.action == "list":
        return _list(catalog, agent, args.json)
    if args.action == "info":
        return _info(catalog, agent, args.name)
    return _check(catalog, agent)


def _status(catalog: SkillCatalog, agent: str, skill: Skill, offered: set[str]) -> str:
    if skill.name in offered:
        return "ready"
    rules = catalog.rules
    if skill.name in rules.disabled:
        return "disabled (skills.entries)"
    allowed = rules.by_agent.get(agent)
    if allowed is not None and skill.name not in allowed:
        return f"not for {agent} (agents.list[].skills)"
    if not catalog.enabled:
        return "off (skills.enabled: false)"
    return "; ".join(catalog.unmet(skill)) or "not offered"


def _list(catalog: SkillCatalog, agent: str, as_json: bool) -> int:
    every, _ = catalog.all_skills(agent)
    offered = {s.name for s in catalog.for_agent(agent)}
    rows = [{"name": s.name, "source": s.source, "status": _status(catalog, agent, s, offered),
             "description": s.description, "location": s.location} for s in every]
    if as_json:
        print(json.dumps({"agent": agent, "skills": rows}, indent=2))
        return 0
    if not rows:
        print(f"no skills found for {agent}")
    for row in rows:
        print(f"{row['name']}\t{row['source']}\t{row['status']}\t{row['description']}")
    return 0


def _info(catalog: SkillCatalog, agent: str, name: str) -> int:
    from rustyclaw.domain.errors import RustyClawError

    every, _ = catalog.all_skills(agent)
    skill = next((s for s in every if s.name == name), None)
    if skill is None:
        known = ", ".join(s.name for s in every) or "none"
        raise RustyClawError(f"no skill {name!r} for agent {agent} (found: {known})")
    offered = {s.name for s in catalog.for_agent(agent)}
    print(f"name: {skill.name}\ndescription: {skill.description}\nlocation: {skill.location}\n"
          f"source: {skill.source}\nstatus: {_status(catalog, agent, skill, offered)}")
    asks = skill.requires.asks_for()
    print("requires: " + ("; ".join(asks) if asks else "nothing"))
    for warning in skill.warnings:
        print(f"warning: {warning}")
    return 0


def _check(catalog: SkillCatalog, agent: str) -> int:
    every, problems = catalog.all_skills(agent)
    offered = {s.name for s in catalog.for_agent(agent)}
    ready = [s for s in every if s.name in offered]
    print(f"{agent}: {len(ready)} of {len(every)} skills ready")
    for skill in every:
        if skill.name not in offered:
            print(f"  not offered: {skill.name}: {_status(catalog, agent, skill, offered)}")
        for warning in skill.warnings:
            print(f"  spec: {skill.name}: {warning}")
    for problem in problems:
        print(f"  problem: {problem}")
    return 1 if problems else 0


def _install(cfg: RustyClawConfig, args: argparse.Namespace, workspace_skills: Path, state_dir: Path) -> int:
    from rustyclaw.adapters.skills.install import install_skill
    from rustyclaw.adapters.skills.settings import install_policy, managed_dir

    destination = managed_dir(state_dir) if args.shared else workspace_skills
    report = install_skill(Path(args.path), destination, install_policy(cfg.skills.install),
                           force=args.force, dry_run=args.dry_run)
    skill = report.skill
    assert skill is not None  # a source without a usable skill raises instead
    print(f"skill: {skill.name}: {skill.description}")
    print(f"files: {report.files} ({report.size} bytes)")
    print("asks for: " + ("; ".join(report.asks) if report.asks else "nothing beyond reading its files"))
    if report.allowed_tools:
        print(f"allowed-tools: {report.allowed_tools}")
    for warning in skill.warnings:
        print(f"spec warning: {warning}")
    if report.refusals:
        for refusal in report.refusals:
            print(f"refused: {refusal}")
        return 1
    if report.installed:
        print(f"installed: {report.destination}")
    else:
        print(f"would install into: {report.destination} (dry run)")
    return 0
