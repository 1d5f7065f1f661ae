"""Every start-up check on a validated configuration, in one place: `serve`, `chat` and
`config validate` all run these (through rustyclaw.settings.load_settings), so validate refuses
exactly what serve would refuse.

The schema (config/) checks each value on its own; these check what needs several sections or a
parser the schema does not run: cron expressions, routes, the agents that jobs and lists name,
their workspace folders, and each enabled channel's settings (by building its adapter, which does
no I/O, so the adapter's own rules apply).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import tzinfo
from pathlib import Path

from rustyclaw.config.schema import CronJobConfig, RustyClawConfig
from rustyclaw.domain.cron import Schedule, ScheduleError, ScheduleSpec
from rustyclaw.domain.errors import ConfigError, RustyClawError
from rustyclaw.mcp_setup import mcp_problems

Problem = tuple[str, str]  # (key path, what is wrong)
Check = Callable[[RustyClawConfig], list[Problem]]


def job_schedule(job: CronJobConfig, tz: tzinfo) -> Schedule:
    """The job's parsed schedule (ScheduleError for a bad expression, e.g. a minute of 99)."""
    return Schedule(ScheduleSpec(cron=job.schedule.cron, every=job.schedule.every, at=job.schedule.at), tz)


def agent_ids(cfg: RustyClawConfig) -> tuple[str, ...]:
    return tuple(dict.fromkeys([cfg.agents.default_agent, *(a.id for a in cfg.agents.list)]))


def check_cron(cfg: RustyClawConfig) -> list[Problem]:
    from rustyclaw.plugins_setup import gateway_zone

    tz = gateway_zone(cfg.gateway.timezone)
    known = agent_ids(cfg)
    problems: list[Problem] = []
    for index, job in enumerate(cfg.cron.jobs):
        try:
            job_schedule(job, tz)
        except ScheduleError as exc:
            problems.append((f"cron.jobs.{index}.schedule", f"job {job.id!r}: {exc}"))
        if job.agent is not None and job.agent not in known:
            problems.append((f"cron.jobs.{index}.agent",
                             f"job {job.id!r} names agent {job.agent!r}, which is not configured "
                             f"(agents: {', '.join(known)})"))
    return problems


def check_cron_delivery(cfg: RustyClawConfig) -> list[Problem]:
    """A job that delivers names a channel that is registered and enabled (else its answers would
    fail at every run, long after start)."""
    from rustyclaw.channel_registry import default_registry

    registry = default_registry()
    enabled = sorted(r.name for r, _ in registry.sections(cfg.channels))
    problems: list[Problem] = []
    sections = cfg.channels.sections()
    for index, job in enumerate(cfg.cron.jobs):
        target = job.delivery
        if target is None or target.mode != "announce":
            continue
        if target.channel not in enabled:
            problems.append((f"cron.jobs.{index}.delivery.channel",
                             f"job {job.id!r} delivers to channel {target.channel!r}, which is not enabled "
                             f"(enabled: {', '.join(enabled) or 'none'}; or set delivery.mode: none)"))
            continue
        accounts = sections[str(target.channel)].account_sections()
        if target.account_id is not None and target.account_id not in accounts:
            problems.append((f"cron.jobs.{index}.delivery.accountId",
                             f"job {job.id!r} delivers through account {target.account_id!r}, which "
                             f"channels.{target.channel}.accounts does not enable (accounts: {', '.join(accounts)})"))
    return problems


def check_routes(cfg: RustyClawConfig) -> list[Problem]:
    if "default" not in cfg.llm.routes:
        return [("llm.routes", "a 'default' route is required (e.g. default: {primary: ollama/llama3.2})")]
    return []


def check_workspaces(cfg: RustyClawConfig) -> list[Problem]:
    problems: list[Problem] = []
    root = Path(cfg.agents.workspace).expanduser()
    if root.exists() and not root.is_dir():
        problems.append(("agents.workspace", f"{root} is not a folder"))
    for index, agent in enumerate(cfg.agents.list):
        if agent.workspace is None:
            continue
        own = Path(agent.workspace).expanduser()
        if not own.is_dir():
            what = "is not a folder" if own.exists() else "does not exist"
            problems.append((f"agents.list.{index}.workspace",
                             f"agent {agent.id!r}: {own} {what} (create it, or leave the key out to use "
                             f"{root / agent.id})"))
    return problems


def check_channels(cfg: RustyClawConfig) -> list[Problem]:
    from rustyclaw.channel_registry import default_registry

    return default_registry().check(cfg.channels)


def sandboxed_agents(cfg: RustyClawConfig) -> list[str]:
    """The agents in agents.list whose own sandbox settings turn the sandbox on."""
    return [a.id for a in cfg.agents.list
            if a.sandbox is not None and cfg.sandbox.for_agent(a.sandbox).mode != "off"]


def check_sandbox(cfg: RustyClawConfig) -> list[Problem]:
    """The sandbox's settings build when anything uses it: the shared `sandbox.mode`, or only an
    agent's own (agents.list[].sandbox); an agent's own container settings under `scope: shared`
    (one container for every agent) could not apply, so they are refused."""
    only_agents = sandboxed_agents(cfg)
    if cfg.sandbox.mode == "off" and not only_agents:
        return []
    from rustyclaw.adapters.sandbox.settings import sandbox_from_config

    problems: list[Problem] = []
    try:
        sandbox_from_config(cfg.sandbox)  # builds the client only: no I/O until the first exec
    except RustyClawError as exc:  # ConfigError or SandboxError: a bad limit or engine address
        users = "" if cfg.sandbox.mode != "off" else f" (sandbox.mode is off; used by agents {', '.join(only_agents)})"
        problems.append(("sandbox", f"{exc}{users}"))
    for index, agent in enumerate(cfg.agents.list):
        own = agent.sandbox
        if own is None or cfg.sandbox.for_agent(own).scope != "shared":
            continue
        if own.docker is not None or own.workspace_access is not None:
            problems.append((f"agents.list.{index}.sandbox",
                             f"agent {agent.id!r} sets its own docker or workspaceAccess, but scope 'shared' runs "
                             "one container for every agent; use scope 'agent' or 'session' for it"))
    return problems


def check_bindings(cfg: RustyClawConfig) -> list[Problem]:
    """A binding must name a configured agent (OpenClaw refuses one to an unknown agent too)."""
    known = agent_ids(cfg)
    return [
        (f"bindings.{index}.agentId",
         f"binding to agent {binding.agent_id!r} ({binding.match.channel}), which is not configured "
         f"(agents: {', '.join(known)}; add it to agents.list)")
        for index, binding in enumerate(cfg.bindings) if binding.agent_id not in known
    ]


# One line per check; a new component with start-up rules adds its check here.
CHECKS: list[Check] = [
    check_cron, check_cron_delivery, check_routes, check_workspaces, check_channels, check_sandbox, check_bindings,
    mcp_problems,
]


def problems_of(cfg: RustyClawConfig) -> list[Problem]:
    found: list[Problem] = []
    for check in CHECKS:
        found.extend(check(cfg))
    return found


def check_config(cfg: RustyClawConfig, source: str) -> None:
    """Raises one ConfigError naming the file and every problem found."""
    problems = problems_of(cfg)
    if problems:
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        lines = "\n".join(f"  - {path}: {message}" for path, message in problems)
        raise ConfigError(f"invalid configuration in {source} ({count}):\n{lines}")
