"""`rustyclaw cron list|runs|add|remove|run`: scheduled jobs, how their runs went, where answers go.

`list` and `runs` read the state folder (`cron/jobs.json`, `cron/runs/<jobId>.jsonl`), so they work
with or without a running gateway. `add` and `remove` edit `cron/added.json` (jobs beside the
config's `cron.jobs`, which stay the config file's own: `remove` refuses them); a running gateway
takes them up within seconds (it polls the file). `run` asks the running gateway to run a job now
(its control API). With `storage.backend: postgres` all of it is in the database instead, where
every gateway replica keeps and reads it (adapters/storage/shared_state.py).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from rustyclaw.domain.errors import ConfigError, RustyClawError
from rustyclaw.settings import Settings

if TYPE_CHECKING:
    from rustyclaw.adapters.cron.run_log import RunRecord
    from rustyclaw.adapters.storage.shared_state import SharedState
    from rustyclaw.config.schema import CronJobConfig
    from rustyclaw.ports.schedule_store import JobState

T = TypeVar("T")


def add_cron_parser(sub: Any) -> None:
    cron = sub.add_parser("cron", help="scheduled jobs: list, runs, add, remove, run")
    actions = cron.add_subparsers(dest="action", required=True, metavar="ACTION")

    def common(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--config", metavar="PATH", help="configuration file (YAML, JSON or TOML)")
        p.set_defaults(handler="rustyclaw.cli_cron:run_cron")
        return p

    common(actions.add_parser("list", help="every job: schedule, next run, last result, delivery")).add_argument(
        "--json", action="store_true", help="print JSON")
    runs = common(actions.add_parser("runs", help="recent runs (of one job, or of all)"))
    runs.add_argument("job_id", nargs="?", metavar="JOB")
    runs.add_argument("--limit", type=int, default=20)
    runs.add_argument("--json", action="store_true", help="print JSON")
    add = common(actions.add_parser("add", help="add a job (a running gateway takes it up within seconds)"))
    add.add_argument("job_id", metavar="JOB")
    when = add.add_mutually_exclusive_group(required=True)
    when.add_argument("--cron", dest="cron_expr", metavar="EXPR", help='a cron expression, e.g. "0 7 * * *"')
    when.add_argument("--every", metavar="INTERVAL", help="an interval such as 30m, 2h, 1d")
    when.add_argument("--at", metavar="ISO", help="once, at an ISO date-time")
    add.add_argument("--message", required=True, help="what the agent is asked")
    add.add_argument("--agent", help="the agent (default: agents.defaultAgent)")
    add.add_argument("--channel", help="deliver the answer on this channel ...")
    add.add_argument("--to", help="... to this chat id (both, or neither: the answer stays in the job's session)")
    add.add_argument("--account", help="the channel account to deliver from (default: the default account)")
    common(actions.add_parser("remove", help="remove a job added with cron add")).add_argument("job_id", metavar="JOB")
    run = common(actions.add_parser("run", help="ask the running gateway to run a job now"))
    run.add_argument("job_id", metavar="JOB")
    run.add_argument("--url", help="the gateway's address (default: from gateway.host and gateway.port)")


def _when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else "-"


def _shared(settings: Settings) -> SharedState:
    """The gateway's own choice of where cron state lives (the state folder, or PostgreSQL)."""
    from rustyclaw.adapters.clock import SystemClock
    from rustyclaw.adapters.storage.factory import open_shared_state

    return open_shared_state(settings.config.storage, settings.state_dir, SystemClock())


def _with_shared(settings: Settings, work: Callable[[SharedState], Awaitable[T]]) -> T:
    """`await work(shared)` with the shared state started, in a fresh event loop."""
    import anyio

    async def run() -> T:
        shared = _shared(settings)
        await shared.start()
        try:
            return await work(shared)
        finally:
            await shared.aclose()

    return anyio.run(run)


async def _jobs(settings: Settings, shared: SharedState) -> list[tuple[CronJobConfig, str]]:
    configured = [(job, "config") for job in settings.config.cron.jobs]
    names = {job.id for job, _ in configured}
    added = [(job, "added") for job in await shared.added_jobs.load() if job.id not in names]
    return configured + added


def _schedule(job: CronJobConfig) -> str:
    s = job.schedule
    return f"cron {s.cron}" if s.cron else f"every {s.every}" if s.every else f"at {s.at}"


def _delivery(job: CronJobConfig) -> str:
    d = job.delivery
    if d is None or d.mode == "none":
        return "session"
    return f"{d.channel}:{d.to}" + (f" ({d.account_id})" if d.account_id else "")


def _list(settings: Settings, as_json: bool) -> int:
    async def read(shared: SharedState) -> tuple[dict[str, JobState], list[tuple[CronJobConfig, str]]]:
        return await shared.schedule.load(), await _jobs(settings, shared)

    states, jobs = _with_shared(settings, read)
    rows: list[dict[str, Any]] = []  # the JSON rows `--json` prints
    for job, source in jobs:
        state = states.get(job.id)
        rows.append({
            "id": job.id, "source": source, "enabled": job.enabled, "schedule": _schedule(job),
            "agent": job.agent or settings.config.agents.default_agent, "delivery": _delivery(job),
            "nextRun": state.next_run if state else None, "lastRun": state.last_run if state else None,
            "lastStatus": state.last_status if state else None, "lastError": state.last_error if state else None,
            "runs": state.runs if state else 0,
        })
    if as_json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no cron jobs (add one with `rustyclaw cron add` or under cron.jobs)")
    for r in rows:
        status = r["lastStatus"] or "never run"
        line = (f"{r['id']}\t{r['schedule']}\t{r['agent']}\t-> {r['delivery']}\tnext {_when(r['nextRun'])}"
                f"\tlast {_when(r['lastRun'])} {status}" + ("" if r["enabled"] else "\t(disabled)"))
        if r["lastError"]:
            line += f"\n    error: {r['lastError']}"
        print(line)
    return 0


def _runs(settings: Settings, job_id: str | None, limit: int, as_json: bool) -> int:
    if limit < 1:
        raise ConfigError("--limit must be 1 or more")

    async def read(shared: SharedState) -> list[RunRecord]:
        return await shared.run_log.recent(job_id, limit)

    records = _with_shared(settings, read)
    if as_json:
        import msgspec

        print(json.dumps(msgspec.to_builtins(records), indent=2))
        return 0
    if not records:
        print("no runs recorded" + (f" for {job_id}" if job_id else ""))
    for r in records:
        took = f"{r.finished_at - r.started_at:.1f}s"
        detail = r.error if r.status == "error" else (r.note or "")
        print(f"{_when(r.started_at)}\t{r.job_id}\t{r.status}\t{took}\t{detail}")
    return 0


def _add(settings: Settings, args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from rustyclaw.checks import check_cron, check_cron_delivery
    from rustyclaw.config.schema import CronJobConfig, RustyClawConfig

    if (args.channel is None) != (args.to is None):
        raise ConfigError("--channel and --to go together (or leave both out to keep answers in the session)")
    spec: dict[str, Any] = {"id": args.job_id, "message": args.message, "schedule": {
        k: v for k, v in (("cron", args.cron_expr), ("every", args.every), ("at", args.at)) if v is not None}}
    if args.agent:
        spec["agent"] = args.agent
    if args.channel:
        spec["delivery"] = {"channel": args.channel, "to": args.to,
                            **({"accountId": args.account} if args.account else {})}
    try:
        job = CronJobConfig.model_validate(spec)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ConfigError(f"cron add {args.job_id}: {'.'.join(map(str, first['loc']))}: {first['msg']}") from exc
    # The same checks `config validate` runs on cron.jobs: the schedule parses, the agent and channel exist.
    probe = RustyClawConfig.model_validate(
        {**settings.config.model_dump(by_alias=True, mode="python"), "cron": {"jobs": [job]}})
    problems = check_cron(probe) + check_cron_delivery(probe)
    if problems:
        raise ConfigError(f"cron add {args.job_id}: " + "; ".join(message for _, message in problems))

    async def add(shared: SharedState) -> str:
        if any(existing.id == job.id for existing, _ in await _jobs(settings, shared)):
            raise ConfigError(f"a cron job {job.id!r} exists already (see: rustyclaw cron list)")
        await shared.added_jobs.save([*await shared.added_jobs.load(), job])
        return shared.added_jobs.where

    where = _with_shared(settings, add)
    print(f"added {job.id} ({_schedule(job)}, -> {_delivery(job)}) to {where}; "
          "a running gateway takes it up within seconds")
    return 0


def _remove(settings: Settings, job_id: str) -> int:
    if any(job.id == job_id for job in settings.config.cron.jobs):
        raise ConfigError(f"{job_id!r} is in cron.jobs of {settings.source or 'the config'}: remove it there")

    async def remove(shared: SharedState) -> None:
        jobs = await shared.added_jobs.load()
        kept = [job for job in jobs if job.id != job_id]
        if len(kept) == len(jobs):
            raise ConfigError(f"no cron job {job_id!r} was added with cron add (see: rustyclaw cron list)")
        await shared.added_jobs.save(kept)

    _with_shared(settings, remove)
    print(f"removed {job_id}; a running gateway drops it within seconds")
    return 0


def _run_now(settings: Settings, job_id: str, url: str | None) -> int:
    import httpx

    from rustyclaw.cli_status import _host

    gateway = settings.config.gateway
    base = (url or f"http://{_host(gateway.host)}:{gateway.port}").rstrip("/")
    headers = {"authorization": f"Bearer {gateway.auth.token}"} if gateway.auth.token else {}
    try:
        response = httpx.post(f"{base}/api/control/cron/run", json={"id": job_id}, headers=headers, timeout=None)
    except httpx.HTTPError as exc:
        raise RustyClawError(f"no gateway answers at {base} ({type(exc).__name__}); `cron run` needs "
                             "`rustyclaw serve` running") from exc
    if response.status_code == 404:
        raise RustyClawError(f"the gateway has no cron job {job_id!r} (a job just added is taken up within seconds)")
    if response.status_code != 200:
        raise RustyClawError(f"the gateway refused: HTTP {response.status_code} {response.text[:200]}")
    job: dict[str, Any] = next((j for j in response.json().get("jobs", []) if j.get("id") == job_id), {})
    status, error = job.get("last_status"), job.get("last_error")
    print(f"{job_id}: {status}" + (f": {error}" if error else ""))
    return 0 if status == "ok" else 1


def run_cron(args: argparse.Namespace) -> int:
    from rustyclaw.settings import load_settings

    settings = load_settings(args.config)
    if args.action == "list":
        return _list(settings, args.json)
    if args.action == "runs":
        return _runs(settings, args.job_id, args.limit, args.json)
    if args.action == "add":
        return _add(settings, args)
    if args.action == "remove":
        return _remove(settings, args.job_id)
    return _run_now(settings, args.job_id, args.url)
