"""The loaded plugins of one gateway: starts and stops them, serves the turn hook and their cron jobs."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import tzinfo

import anyio

from rustyclaw.adapters.cron.scheduler import CronJob, JobRun
from rustyclaw.domain.cron import Schedule, ScheduleError
from rustyclaw.domain.events import Reply
from rustyclaw.domain.messages import InboundMessage
from rustyclaw.domain.plugins import CronEvent, PluginDispatcher, PluginError
from rustyclaw.ports.clock import Clock
from rustyclaw.ports.plugins import HostApi, PluginInstance, PluginRuntime, PluginSource

log = logging.getLogger("rustyclaw.plugins")


class PluginManager:
    """Implements TurnHooks. `start()` loads every source (one that fails is logged and left out);
    `before_turn` runs the dispatch rules of domain/plugins.py; `aclose()` runs on_stop."""

    def __init__(
        self,
        sources: Sequence[PluginSource],
        runtimes: Mapping[str, PluginRuntime],
        host: HostApi,
        *,
        reset_triggers: tuple[str, ...] = ("/new", "/reset"),
        max_chars: int = 32_000,
    ) -> None:
        self.sources = list(sources)
        self.runtimes = runtimes
        self.host = host
        self.instances: list[PluginInstance] = []
        self.failed: dict[str, str] = {}
        self._reset_triggers = reset_triggers
        self._max_chars = max_chars
        self.dispatcher = PluginDispatcher([], reset_triggers=reset_triggers, max_chars=max_chars)

    async def start(self) -> None:
        for source in self.sources:
            name = source.manifest.name
            runtime = self.runtimes.get(source.manifest.runtime)
            if runtime is None:
                self.failed[name] = f"no runtime {source.manifest.runtime!r}"
                continue
            try:
                instance = runtime.load(source, self.host)
                await instance.start()
            except Exception as exc:  # one plugin that cannot load does not stop the others
                self.failed[name] = str(exc)
                log.error("plugin %s not loaded: %s", name, exc)
                continue
            self.instances.append(instance)
            log.info("plugin %s %s loaded (%s)", name, source.manifest.version, source.manifest.runtime)
        self.dispatcher = PluginDispatcher(
            self.instances, reset_triggers=self._reset_triggers, max_chars=self._max_chars
        )

    async def before_turn(self, message: InboundMessage, session_key: str) -> InboundMessage | Reply | None:
        return await self.dispatcher.before_turn(message, session_key)

    def cron_jobs(self, clock: Clock, tz: tzinfo) -> list[CronJob]:
        """One scheduler job per plugin schedule, id `plugin:<name>:<hook id>`."""
        jobs: list[CronJob] = []
        for instance in self.instances:
            for hook in instance.hooks.cron:
                try:
                    schedule = Schedule(hook.spec(), tz)
                except ScheduleError as exc:
                    log.error("plugin %s: cron %s ignored: %s", instance.name, hook.id, exc)
                    continue
                jobs.append(CronJob(
                    id=f"plugin:{instance.name}:{hook.id}", schedule=schedule,
                    run=self._cron_runner(instance, hook.id, clock), max_retries=0,
                ))
        return jobs

    @staticmethod
    def _cron_runner(instance: PluginInstance, job: str, clock: Clock) -> JobRun:
        async def run() -> None:
            result = await instance.handle(CronEvent(job=job, now=clock.now()))
            if result.error is not None:
                raise PluginError(f"plugin {instance.name}: cron {job} failed: {result.error}")

        return run

    async def aclose(self) -> None:
        with anyio.CancelScope(shield=True):
            for instance in reversed(self.instances):
                try:
                    await instance.aclose()
                except Exception as exc:
                    log.warning("plugin %s: stopping failed: %s", instance.name, exc)
            self.instances = []
            self.dispatcher = PluginDispatcher([], reset_triggers=self._reset_triggers, max_chars=self._max_chars)
