"""The cron scheduler: runs due jobs on a Clock, keeps their state in a ScheduleStore, retries failures.

A job is an id, a Schedule and an async callable. Config jobs (`cron.jobs`) send their message to
the gateway as an `InboundMessage(channel="cron", session_hint=<jobId>)`, so each runs in its own
session; plugin jobs call the plugin's cron handler.

- `start()` loads the stored states. A job seen for the first time is scheduled from now. A job
  whose stored next run passed while the gateway was down runs once at start when
  `run_missed_on_start` (never once per missed run); otherwise it waits for its next time.
- `run_due()` runs every due job (concurrently) and waits for them: tests drive it on a
  controlled clock. `run()` is the serving loop around it.
- A job that fails (raises, or its turn ends in an error) is logged and retried after
  `retry_backoff_seconds`, doubling, up to `max_retries` times; then it waits for its next time.
- A job never runs twice at once; a cancelled run (shutdown) keeps its due time, so it counts as
  missed at the next start.
- With `claims` (gateway replicas sharing PostgreSQL), a scheduled run first claims its tick (the
  job id and its scheduled time); a tick another replica claimed is skipped here, its state left
  to that replica to record. Runs started by `run_now` are not claimed: a person asked for them.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import anyio

from rustyclaw.domain.cron import MissedPolicy, Schedule, reconcile_missed, retry_delay
from rustyclaw.domain.errors import RustyClawError
from rustyclaw.domain.messages import ChatKind, InboundMessage, OutboundMessage
from rustyclaw.ports.clock import Clock
from rustyclaw.ports.gateway import GatewayService
from rustyclaw.ports.schedule_store import CronClaims, JobState, ScheduleStore

log = logging.getLogger("rustyclaw.cron")

# A run returns an optional note on what it did with its answer (for the run log), or raises.
JobRun = Callable[[], Awaitable[str | None]]
RunLog = Callable[[str, float, float, str | None, str | None], Awaitable[None]]


class CronJobError(RustyClawError):
    """A cron job's run failed (its turn ended in an error, or the message was dropped)."""


@dataclass
class CronJob:
    """One scheduled job. `run` raises to report a failure."""

    id: str
    schedule: Schedule
    run: JobRun
    max_retries: int = 2
    retry_backoff_seconds: float = 60.0
    timeout_seconds: float | None = None


@dataclass(frozen=True)
class Delivery:
    """Where a job's answer goes: a chat on a channel (OpenClaw's `delivery: {channel, to}`)."""

    channel: str
    to: str
    account: str = "default"
    chat_kind: ChatKind = "direct"

    def describe(self) -> str:
        return f"{self.channel}:{self.to}"


Deliver = Callable[[OutboundMessage], Awaitable[None]]


def gateway_job_runner(
    gateway: GatewayService, job_id: str, text: str, agent: str | None,
    delivery: Delivery | None = None, deliver: Deliver | None = None,
) -> JobRun:
    """A run that sends `text` to the gateway in the job's own session (`session_hint=job_id`) and,
    with a `delivery`, sends the answer to that chat; a failed delivery fails the run (and is retried
    like any failure: the channel has already retried transient errors itself)."""

    async def run() -> str | None:
        message = InboundMessage(
            channel="cron", peer_id=job_id, sender_id="cron", sender_name="cron", text=text,
            session_hint=job_id, agent_hint=agent,
        )
        reply = await gateway.handle(message)
        if reply is None:
            raise CronJobError(f"cron job {job_id}: the gateway dropped the message (access policy?)")
        if reply.error is not None:
            raise CronJobError(f"cron job {job_id}: {reply.error}")
        if delivery is None:
            return f"kept in {reply.session_key}"
        if deliver is None:
            raise CronJobError(f"cron job {job_id}: no channels run here to deliver to {delivery.describe()}")
        if not reply.text.strip():
            return f"nothing to deliver to {delivery.describe()} (empty answer)"
        out = OutboundMessage(channel=delivery.channel, account=delivery.account, peer_id=delivery.to,
                              chat_kind=delivery.chat_kind, text=reply.text)
        try:
            await deliver(out)
        except RustyClawError as exc:
            raise CronJobError(f"cron job {job_id}: delivery to {delivery.describe()} failed: {exc}") from exc
        return f"delivered to {delivery.describe()}"

    return run


class CronScheduler:
    """Runs CronJobs when due; see the module docstring for the rules."""

    def __init__(
        self,
        jobs: Sequence[CronJob],
        store: ScheduleStore,
        clock: Clock,
        *,
        missed_policy: MissedPolicy = "run-once",
        max_sleep_seconds: float = 30.0,
        run_log: RunLog | None = None,
        claims: CronClaims | None = None,
    ) -> None:
        ids = [job.id for job in jobs]
        duplicates = {i for i in ids if ids.count(i) > 1}
        if duplicates:
            raise ValueError(f"cron job ids appear twice: {', '.join(sorted(duplicates))}")
        self.jobs = {job.id: job for job in jobs}
        self.store = store
        self.clock = clock
        self.missed_policy = missed_policy
        self.max_sleep_seconds = max_sleep_seconds
        # Called after every run: (job id, started, finished, error or None, note or None).
        self.run_log = run_log
        self.claims = claims
        self.states: dict[str, JobState] = {}
        self._running: set[str] = set()
        self._started = False
        self._wake = anyio.Event()

    async def start(self) -> None:
        """Loads stored states and reconciles them with the configured jobs (see module docstring)."""
        stored = await self.store.load()
        now = self.clock.now()
        states: dict[str, JobState] = {}
        for job in self.jobs.values():
            signature = job.schedule.spec.signature()
            old = stored.get(job.id)
            if old is None or old.signature != signature:
                states[job.id] = JobState(anchor=now, signature=signature, next_run=job.schedule.first_fire(now))
                if old is not None:
                    log.info("cron job %s: schedule changed to %s", job.id, signature)
                continue
            next_run, run_now = reconcile_missed(job.schedule, old.next_run, old.anchor, now, self.missed_policy)
            if old.next_run is not None and old.next_run <= now:
                log.info("cron job %s missed its run at %.0f while down: %s", job.id, old.next_run,
                         "running it once now" if run_now else "skipping to the next time")
            old.next_run = next_run
            states[job.id] = old
        # States of jobs no longer configured are dropped: a job that comes back starts afresh.
        self.states = states
        self._started = True
        await self.store.save(self.states)

    async def sync_jobs(self, jobs: Sequence[CronJob], owns: Callable[[str], bool]) -> tuple[list[str], list[str]]:
        """Replaces the jobs `owns` names (e.g. those `rustyclaw cron add` keeps) by `jobs`, while
        serving: new ones are scheduled from now, missing ones dropped (a running one finishes).
        Returns (added ids, removed ids)."""
        now = self.clock.now()
        wanted = {job.id: job for job in jobs}
        removed = [i for i in self.jobs if owns(i) and i not in wanted]
        added = [i for i in wanted if i not in self.jobs]
        for job_id in removed:
            del self.jobs[job_id]
            self.states.pop(job_id, None)
        for job_id in added:
            job = wanted[job_id]
            self.jobs[job_id] = job
            self.states[job_id] = JobState(anchor=now, signature=job.schedule.spec.signature(),
                                           next_run=job.schedule.first_fire(now))
        if added or removed:
            log.info("cron jobs changed: added %s, removed %s", added or "none", removed or "none")
            with anyio.CancelScope(shield=True):
                await self.store.save(self.states)
            self._wake.set()
        return added, removed

    def due(self, now: float | None = None) -> list[CronJob]:
        moment = self.clock.now() if now is None else now
        return [
            job for job_id, job in self.jobs.items()
            if job_id not in self._running
            and (nxt := self.states[job_id].next_run) is not None and nxt <= moment
        ]

    def next_wakeup(self) -> float | None:
        times = [s.next_run for k, s in self.states.items() if s.next_run is not None and k not in self._running]
        return min(times) if times else None

    async def run_due(self) -> list[str]:
        """Runs every due job now and waits for all of them; returns their ids."""
        if not self._started:
            await self.start()
        jobs = self.due()
        async with anyio.create_task_group() as tg:
            for job in jobs:
                self._running.add(job.id)
                tg.start_soon(self._execute, job)
        return [job.id for job in jobs]

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Serves until cancelled: sleeps until the next due job (at most `max_sleep_seconds`, so a
        changed wall clock is noticed), runs due jobs in the background.

        With `claims` (replicas), the stored states are read again first even if `start()` ran:
        this replica may have waited to lead while another ran the jobs and saved their states."""
        if not self._started or self.claims is not None:
            await self.start()
        task_status.started()
        async with anyio.create_task_group() as tg:
            while True:
                for job in self.due():
                    self._running.add(job.id)
                    tg.start_soon(self._execute, job)
                wakeup = self.next_wakeup()
                delay = self.max_sleep_seconds if wakeup is None else wakeup - self.clock.now()
                self._wake = anyio.Event()
                with anyio.move_on_after(max(0.0, min(delay, self.max_sleep_seconds))):
                    await self._wake.wait()

    async def run_now(self, job_id: str) -> None:
        """Runs one job at once (the control UI's "run now"); its scheduled run stays where it was.
        A job that is already running is left alone. KeyError for an unknown id."""
        job = self.jobs[job_id]
        if job_id in self._running:
            return
        state = self.states[job_id]
        planned = state.next_run
        state.next_run = self.clock.now()
        self._running.add(job_id)
        await self._execute(job, claim=False)
        if state.last_status == "ok" and planned is not None and planned > self.clock.now():
            state.next_run = planned
            with anyio.CancelScope(shield=True):
                await self.store.save(self.states)
        self._wake.set()

    async def _claimed(self, job: CronJob, state: JobState, scheduled: float) -> bool:
        """Whether this process may run the tick `scheduled` of `job` (always, without claims)."""
        if self.claims is None:
            return True
        try:
            if await self.claims.claim(job.id, scheduled):
                return True
        except RustyClawError as exc:
            # Unclaimed is not run: a tick run twice (two replicas) is worse than one run late.
            delay = retry_delay(1, job.retry_backoff_seconds)
            log.error("cron job %s: cannot claim its run (%s); trying again in %.0f s", job.id, exc, delay)
            state.next_run = self.clock.now() + delay
            return False
        log.info("cron job %s: the run at %.0f was claimed by another gateway", job.id, scheduled)
        state.next_run = job.schedule.next_fire(scheduled, state.anchor)
        return False

    async def _execute(self, job: CronJob, *, claim: bool = True) -> None:
        state = self.states[job.id]
        scheduled = state.next_run if state.next_run is not None else self.clock.now()
        if claim and not await self._claimed(job, state, scheduled):
            self._running.discard(job.id)
            self._wake.set()
            return
        started = self.clock.now()
        error: str | None = None
        note: str | None = None
        try:
            log.info("cron job %s: running", job.id)
            with anyio.fail_after(job.timeout_seconds if job.timeout_seconds else math.inf):
                note = await job.run()
        except TimeoutError:
            error = f"timed out after {job.timeout_seconds} s"
        except Exception as exc:  # a job's failure is recorded and retried, never raised
            error = str(exc) or type(exc).__name__
        finally:
            self._running.discard(job.id)
        finished = self.clock.now()
        state.last_run = started
        state.runs += 1
        if error is None:
            state.failures = 0
            state.last_status = "ok"
            state.last_error = None
            state.next_run = job.schedule.next_fire(max(started, scheduled), state.anchor)
            log.info("cron job %s: done", job.id)
        else:
            state.failures += 1
            state.last_status = "error"
            state.last_error = error
            if state.failures <= job.max_retries:
                delay = retry_delay(state.failures, job.retry_backoff_seconds)
                state.next_run = finished + delay
                log.warning("cron job %s failed (%s); retry %d of %d in %.0f s", job.id, error,
                            state.failures, job.max_retries, delay)
            else:
                state.failures = 0
                state.next_run = job.schedule.next_fire(max(finished, scheduled), state.anchor)
                log.error("cron job %s failed (%s); no retries left, next run %s", job.id, error,
                          "never" if state.next_run is None else f"at {state.next_run:.0f}")
        with anyio.CancelScope(shield=True):
            try:
                await self.store.save(self.states)
                if self.run_log is not None:
                    await self.run_log(job.id, started, finished, error, note)
            except RustyClawError as exc:
                log.error("cron state could not be saved: %s", exc)
        self._wake.set()
