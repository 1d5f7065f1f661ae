"""Builds the plugin manager and the cron scheduler from config, for the composition root.

Wiring (rustyclaw/app.py), in this order:

    setup = PluginSetup(cfg, state_dir, clock, send=deliver, fetch=guarded_fetch)
    gateway = Gateway(..., hooks=setup.hooks)         # Gateway calls hooks.before_turn
    await setup.start(gateway, llm)                   # loads plugins (on_start), builds the scheduler
    tg.start_soon(setup.run_scheduler)                # serves cron until cancelled
    ...
    await setup.aclose()                              # on_stop of every plugin

Nothing heavy is imported here: wasmtime loads with the first WASM plugin.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import anyio
import anyio.abc

from rustyclaw.adapters.cron.added_jobs import AddedJobs, FileAddedJobs, added_jobs_path
from rustyclaw.adapters.cron.run_log import JsonlRunLog, RunHistory, RunRecord
from rustyclaw.adapters.cron.scheduler import CronJob, CronScheduler, Delivery, gateway_job_runner
from rustyclaw.adapters.cron.state_file import JsonScheduleStore
from rustyclaw.adapters.plugins.host_api import PluginHost, PluginStorage
from rustyclaw.adapters.plugins.loader import PluginCaps, discover, sources
from rustyclaw.adapters.plugins.manager import PluginManager
from rustyclaw.checks import job_schedule
from rustyclaw.config.schema import CronJobConfig, RustyClawConfig
from rustyclaw.domain.cron import ScheduleError
from rustyclaw.domain.errors import ConfigError, RustyClawError
from rustyclaw.domain.messages import OutboundMessage
from rustyclaw.ports.clock import Clock
from rustyclaw.ports.gateway import GatewayService
from rustyclaw.ports.llm import LLMClient
from rustyclaw.ports.plugins import Fetch, PluginKV, PluginRuntime, PluginSource, Send, TurnHooks
from rustyclaw.ports.schedule_store import CronClaims, ScheduleStore

log = logging.getLogger("rustyclaw.plugins")

# How often a running gateway looks for jobs `rustyclaw cron add|remove` changed.
ADDED_POLL_SECONDS = 2.0


def gateway_zone(name: str | None) -> tzinfo:
    """`gateway.timezone`, or the machine's zone (TZ, then /etc/localtime), with its DST rules."""
    if name:
        return ZoneInfo(name)
    env = os.environ.get("TZ", "").lstrip(":")
    if env:
        try:
            return ZoneInfo(env)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    try:
        with open("/etc/localtime", "rb") as fh:
            return ZoneInfo.from_file(fh, key="localtime")
    except (OSError, ValueError):
        zone = datetime.now().astimezone().tzinfo
        assert zone is not None
        return zone


class TextFetcher(Protocol):
    """What the web_fetch tool offers (adapters/tools/web_fetch.py): SSRF-guarded, redirects checked."""

    async def fetch(self, url: str) -> str: ...


def fetch_through(tool: TextFetcher) -> Fetch:
    """The plugins' `web.fetch` through the web_fetch tool's guarded fetcher.

    The tool returns text only and raises ToolError for refusals (private addresses, non-text,
    HTTP >= 400), which the host API passes to the plugin as its error; a success is status 200.
    """

    async def fetch(url: str) -> tuple[int, str, str]:
        return 200, "text/plain", await tool.fetch(url)

    return fetch


class AccountSend(Protocol):
    """ChannelSetup.send: a text to a peer through one account of a channel."""

    async def __call__(self, channel: str, peer_id: str, text: str, account: str = ...) -> None: ...


def send_through(channel_send: AccountSend) -> Send:
    """The plugins' `messaging.send` and cron deliveries through `send(channel, peer_id, text,
    account)` (chat kind and thread are dropped: that callable routes by channel, account and peer)."""

    async def send(message: OutboundMessage) -> None:
        await channel_send(message.channel, message.peer_id, message.text, message.account)

    return send


def config_jobs(cfg: RustyClawConfig, gateway: GatewayService, tz: tzinfo, *, send: Send | None = None,
                added: Sequence[CronJobConfig] = (), configured: bool = True) -> list[CronJob]:
    """The enabled `cron.jobs` (and those `rustyclaw cron add` kept), each sending its message to the
    gateway in its own session and its answer to its `delivery` target through `send`."""
    jobs = []
    in_config = {job.id for job in cfg.cron.jobs}
    own = list(cfg.cron.jobs) if configured else []
    for index, job in enumerate([*own, *(j for j in added if j.id not in in_config)]):
        if not job.enabled:
            continue
        try:
            schedule = job_schedule(job, tz)  # the parse `config validate` runs (rustyclaw/checks.py)
        except ScheduleError as exc:
            raise ConfigError(f"cron.jobs[{index}].schedule ({job.id}): {exc}") from exc
        target = job.delivery
        delivery = (Delivery(channel=str(target.channel), to=str(target.to), account=target.account_id or "default",
                             chat_kind=target.chat_kind)
                    if target is not None and target.mode == "announce" else None)
        jobs.append(CronJob(
            id=job.id, schedule=schedule,
            run=gateway_job_runner(gateway, job.id, job.message, job.agent, delivery, send),
            max_retries=job.retry.max_retries, retry_backoff_seconds=job.retry.backoff_seconds,
            timeout_seconds=job.timeout_seconds,
        ))
    return jobs


def runtimes_for(ready: Sequence[PluginSource]) -> dict[str, PluginRuntime]:
    """The runtimes the found plugins name, imported only then: with no plugins (the usual gateway)
    neither runtime module nor the plugin SDK is loaded (0.3 MB of idle RSS). A plugin naming
    another runtime finds none, and the manager says so, as with both loaded."""
    kinds = {source.manifest.runtime for source in ready}
    runtimes: dict[str, PluginRuntime] = {}
    if "wasm" in kinds:
        from rustyclaw.adapters.plugins.wasm_runtime import WasmRuntime

        runtimes["wasm"] = WasmRuntime()
    if "python" in kinds:
        from rustyclaw.adapters.plugins.python_runtime import PythonRuntime

        runtimes["python"] = PythonRuntime()
    return runtimes


class PluginSetup:
    """The plugins and the scheduler of one gateway; see the module docstring for the wiring."""

    def __init__(
        self,
        cfg: RustyClawConfig,
        state_dir: Path,
        clock: Clock,
        *,
        send: Send | None = None,
        fetch: Fetch | None = None,
        runtimes: dict[str, PluginRuntime] | None = None,
        schedule_store: ScheduleStore | None = None,
        plugin_kv: PluginKV | None = None,
        run_log: RunHistory | None = None,
        claims: CronClaims | None = None,
        added_jobs: AddedJobs | None = None,
    ) -> None:
        self.cfg = cfg
        self.clock = clock
        self.state_dir = state_dir
        self.tz = gateway_zone(cfg.gateway.timezone)
        pcfg = cfg.plugins
        self.found = discover([Path(d) for d in pcfg.dirs], pcfg.enabled)
        caps = PluginCaps(memory_mb=pcfg.memory_limit_mb, fuel=pcfg.fuel_per_call, timeout_seconds=pcfg.timeout_seconds)
        ready, self.problems = sources(self.found, pcfg.config, caps)
        for problem in self.problems:
            log.error("plugin not loaded: %s", problem)
        self.host = PluginHost(
            storage=plugin_kv or PluginStorage(state_dir / "plugins"), send=send, fetch=fetch,
            configs={s.manifest.name: s.config for s in ready}, timeout_seconds=max(pcfg.timeout_seconds, 30.0),
        )
        self.manager = PluginManager(
            ready, runtimes or runtimes_for(ready), self.host,
            reset_triggers=tuple(cfg.sessions.reset_triggers), max_chars=cfg.gateway.max_message_chars,
        )
        self.schedule_store = schedule_store or JsonScheduleStore(state_dir / "cron" / "jobs.json")
        # Replicas on PostgreSQL: runs recorded in the database, each tick claimed before it runs.
        self.run_log: RunHistory = run_log or JsonlRunLog(state_dir / "cron" / "runs")
        self.claims = claims
        self._send = send  # cron jobs' deliveries go out the same way
        self._gateway: GatewayService | None = None
        # `rustyclaw cron add|remove`'s jobs: cron/added.json, or rows every replica shares.
        self.added_jobs: AddedJobs = added_jobs or FileAddedJobs(added_jobs_path(state_dir))
        self._added_seen: str | None = None
        self.scheduler: CronScheduler | None = None

    @property
    def hooks(self) -> TurnHooks:
        """What Gateway.handle calls: `await hooks.before_turn(message, session_key)`."""
        return self.manager

    async def start(self, gateway: GatewayService, llm: LLMClient | None = None) -> None:
        """Loads the plugins (a failing one is logged and left out) and builds the scheduler."""
        self.host.llm = llm
        await self.manager.start()
        self._gateway = gateway
        # What the scheduler starts with; a later change to the file is taken up by _watch_added.
        self._added_seen = await self.added_jobs.revision()
        added = await self.added_jobs.load()
        jobs = (config_jobs(self.cfg, gateway, self.tz, send=self._send, added=added)
                + self.manager.cron_jobs(self.clock, self.tz))
        run_log = self.run_log

        async def record(job_id: str, started: float, finished: float, error: str | None, note: str | None) -> None:
            await run_log.append(RunRecord(job_id=job_id, started_at=started, finished_at=finished,
                                           status="ok" if error is None else "error", error=error, note=note))

        self.scheduler = CronScheduler(
            jobs, self.schedule_store, self.clock,
            missed_policy="run-once" if self.cfg.cron.run_missed_on_start else "skip", run_log=record,
            claims=self.claims,
        )
        await self.scheduler.start()

    async def run_scheduler(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Runs cron jobs until cancelled (start() first), taking up `rustyclaw cron add|remove` as they happen."""
        if self.scheduler is None:
            raise RuntimeError("PluginSetup.start() must run before run_scheduler()")
        async with anyio.create_task_group() as group:
            group.start_soon(self._watch_added)
            await self.scheduler.run(task_status=task_status)

    async def _watch_added(self) -> None:
        """Polls the added jobs' revision (another process, the CLI, changes them) and syncs the scheduler."""
        store = self.added_jobs
        seen = self._added_seen
        configured = {job.id for job in self.cfg.cron.jobs}
        while True:
            await anyio.sleep(ADDED_POLL_SECONDS)
            try:
                now = await store.revision()
                if now == seen or self.scheduler is None or self._gateway is None:
                    continue
                seen = now
                added = [job for job in await store.load() if job.id not in configured]
                jobs = config_jobs(self.cfg, self._gateway, self.tz, send=self._send, added=added, configured=False)
            except RustyClawError as exc:  # a bad file or an unreachable database: try again next poll
                log.error("cron jobs from %s not taken up: %s", store.where, exc)
                continue
            # Added jobs are those neither in cron.jobs nor a plugin's.
            await self.scheduler.sync_jobs(
                jobs, lambda job_id: job_id not in configured and not job_id.startswith("plugin:"))

    async def aclose(self) -> None:
        await self.manager.aclose()
