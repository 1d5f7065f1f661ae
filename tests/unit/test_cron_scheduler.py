"""The scheduler on a controlled clock: firing, retries, missed runs, restarts (in-memory state)."""

from __future__ import annotations

from datetime import UTC

import anyio
import pytest

from rustyclaw.adapters.cron.scheduler import CronJob, CronScheduler
from rustyclaw.adapters.cron.state_file import MemoryScheduleStore
from rustyclaw.domain.cron import Schedule, ScheduleSpec

from .fakes import FakeClock

pytestmark = pytest.mark.anyio

T0 = 1_800_000_000.0  # 2027-01-15 08:00:00 UTC, a round minute


class Recorder:
    def __init__(self, clock: FakeClock, fail_times: int = 0) -> None:
        self.clock = clock
        self.runs: list[float] = []
        self.fail_times = fail_times

    async def __call__(self) -> None:
        self.runs.append(self.clock.now())
        if self.fail_times > 0:
            self.fail_times -= 1
            raise RuntimeError("job broke")


def job(job_id: str, run: Recorder, *, every: str | None = None, cron: str | None = None,
        at: str | None = None, **kw: float) -> CronJob:
    return CronJob(id=job_id, schedule=Schedule(ScheduleSpec(every=every, cron=cron, at=at), UTC), run=run, **kw)


async def test_fires_when_due_on_the_controlled_clock() -> None:
    clock = FakeClock(T0)
    run = Recorder(clock)
    scheduler = CronScheduler([job("tick", run, cron="*/5 * * * *")], MemoryScheduleStore(), clock)
    await scheduler.start()
    assert await scheduler.run_due() == []
    assert scheduler.next_wakeup() == T0 + 300
    clock.t = T0 + 299
    assert await scheduler.run_due() == []
    clock.t = T0 + 300
    assert await scheduler.run_due() == ["tick"]
    clock.t = T0 + 610
    assert await scheduler.run_due() == ["tick"]
    assert run.runs == [T0 + 300, T0 + 610]
    state = scheduler.states["tick"]
    assert state.runs == 2 and state.last_status == "ok" and state.next_run == T0 + 900


async def test_state_survives_a_restart_and_a_missed_job_runs_once() -> None:
    clock = FakeClock(T0)
    store = MemoryScheduleStore()
    run = Recorder(clock)
    first = CronScheduler([job("hourly", run, every="1h")], store, clock)
    await first.start()
    clock.t = T0 + 3600
    await first.run_due()
    assert run.runs == [T0 + 3600]

    # Down for five hours: four runs missed. At start it runs once, then keeps its grid.
    clock.t = T0 + 6 * 3600 + 30
    second = CronScheduler([job("hourly", run, every="1h")], store, clock)
    await second.start()
    assert second.states["hourly"].runs == 1 and second.states["hourly"].anchor == T0
    assert await second.run_due() == ["hourly"]
    assert await second.run_due() == []
    assert run.runs == [T0 + 3600, T0 + 6 * 3600 + 30]
    assert second.states["hourly"].next_run == T0 + 7 * 3600


async def test_skip_policy_waits_for_the_next_time() -> None:
    clock = FakeClock(T0)
    store = MemoryScheduleStore()
    run = Recorder(clock)
    await CronScheduler([job("hourly", run, every="1h")], store, clock).start()
    clock.t = T0 + 3 * 3600 + 10
    later = CronScheduler([job("hourly", run, every="1h")], store, clock, missed_policy="skip")
    await later.start()
    assert await later.run_due() == []
    assert later.states["hourly"].next_run == T0 + 4 * 3600
    assert run.runs == []


async def test_a_failed_job_is_retried_with_backoff_then_waits_for_its_time() -> None:
    clock = FakeClock(T0)
    run = Recorder(clock, fail_times=3)
    scheduler = CronScheduler(
        [job("flaky", run, every="1h", max_retries=2, retry_backoff_seconds=60)], MemoryScheduleStore(), clock
    )
    await scheduler.start()
    clock.t = T0 + 3600
    await scheduler.run_due()
    state = scheduler.states["flaky"]
    assert state.last_status == "error" and state.last_error == "job broke" and state.failures == 1
    assert state.next_run == T0 + 3600 + 60
    clock.t = T0 + 3660
    await scheduler.run_due()
    assert state.next_run == T0 + 3660 + 120 and state.failures == 2
    clock.t = T0 + 3780
    await scheduler.run_due()
    # Retries spent: back on the schedule, failure count reset.
    assert state.failures == 0 and state.next_run == T0 + 7200
    clock.t = T0 + 7200
    await scheduler.run_due()
    assert state.last_status == "ok"
    assert run.runs == [T0 + 3600, T0 + 3660, T0 + 3780, T0 + 7200]


async def test_at_runs_once_and_a_past_at_never() -> None:
    clock = FakeClock(T0)
    run = Recorder(clock)
    jobs = [job("soon", run, at="2027-01-15T08:10:00+00:00"), job("past", run, at="2027-01-15T07:00:00+00:00")]
    scheduler = CronScheduler(jobs, MemoryScheduleStore(), clock)
    await scheduler.start()
    assert scheduler.states["past"].next_run is None
    clock.t = T0 + 3600
    assert await scheduler.run_due() == ["soon"]
    assert await scheduler.run_due() == []
    assert scheduler.states["soon"].next_run is None


async def test_a_changed_schedule_starts_afresh() -> None:
    clock = FakeClock(T0)
    store = MemoryScheduleStore()
    run = Recorder(clock)
    await CronScheduler([job("j", run, every="1h")], store, clock).start()
    clock.t = T0 + 7200
    again = CronScheduler([job("j", run, every="10m")], store, clock)
    await again.start()
    assert again.states["j"].signature == "every:10m" and again.states["j"].next_run == T0 + 7200 + 600
    assert await again.run_due() == []


async def test_timeout_counts_as_failure_and_a_running_job_is_not_started_twice() -> None:
    clock = FakeClock(T0)
    gate = anyio.Event()

    async def slow() -> None:
        await gate.wait()

    scheduler = CronScheduler(
        [CronJob(id="slow", schedule=Schedule(ScheduleSpec(every="1m"), UTC), run=slow,
                 timeout_seconds=0.05, max_retries=0)],
        MemoryScheduleStore(), clock,
    )
    await scheduler.start()
    clock.t = T0 + 60
    await scheduler.run_due()
    state = scheduler.states["slow"]
    assert state.last_status == "error" and state.last_error is not None and "timed out" in state.last_error
    with pytest.raises(ValueError, match="twice"):
        CronScheduler([job("a", Recorder(clock), every="1m"), job("a", Recorder(clock), every="1m")],
                      MemoryScheduleStore(), clock)


async def test_run_loop_fires_jobs_in_the_background() -> None:
    clock = FakeClock(T0)
    fired = anyio.Event()

    async def once() -> None:
        fired.set()

    scheduler = CronScheduler([CronJob(id="now", schedule=Schedule(ScheduleSpec(every="1m"), UTC), run=once)],
                              MemoryScheduleStore(), clock, max_sleep_seconds=0.01)
    async with anyio.create_task_group() as tg:
        await tg.start(scheduler.run)
        clock.t = T0 + 60
        with anyio.fail_after(5):
            await fired.wait()
        tg.cancel_scope.cancel()
    assert scheduler.states["now"].runs == 1
