"""Issue #16: a cron job over 5 minutes of controlled clock fires once per tick across replicas.

Three `CronScheduler`s, each with its own pool on one PostgreSQL schema (three replicas' cron), run
their serving loop (`run()`, as the leader duty does) on one fake clock that the test advances tick
by tick. The tick claims (`cron_claims`) are what keeps a tick to one run, so the worst case is
tested: all three loops serve at once (a lease handover where the old leader has not noticed yet),
then the first is cancelled (the leader died) and a fourth loop starts late (a new leader taking up
the stored states). Each tick is checked only once every live loop has moved past it (ran it or
lost its claim), so "exactly one run" is about the tick as a whole, not about who was fastest.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC

import anyio
import pytest

from rustyclaw.adapters.cron.postgres import PostgresCronClaims, PostgresRunLog, PostgresScheduleStore
from rustyclaw.adapters.cron.run_log import RunRecord
from rustyclaw.adapters.cron.scheduler import CronJob, CronScheduler
from rustyclaw.adapters.storage.pg_pool import PgPool
from rustyclaw.domain.cron import Schedule, ScheduleSpec
from tests.fixtures.postgres_schema import temporary_schema
from tests.unit.fakes import FakeClock

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]

START = 1_700_000_020.0  # 40 s past a minute: the cron-expression job's first tick is 20 s in
STEP = 10.0  # the `every` job's period; the clock moves by one of its ticks at a time
MINUTES = 5
BOUND = 30.0  # a hang guard for each tick, not an expectation


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def pools() -> AsyncIterator[list[PgPool]]:
    async with temporary_schema("cronclock") as dsn:
        made = [PgPool(dsn, min_size=1, max_size=3) for _ in range(3)]
        async with anyio.create_task_group() as tg:  # all migrate at once: the migration lock orders them
            for pool in made:
                tg.start_soon(pool.start)
        try:
            yield made
        finally:
            for pool in made:
                await pool.aclose()


class Replica:
    """One replica's scheduler, its serving loop in a cancel scope of its own (its process)."""

    def __init__(self, name: str, pool: PgPool, clock: FakeClock, runs: list[tuple[str, str, float]]) -> None:
        self.name = name

        def job(job_id: str, spec: ScheduleSpec) -> CronJob:
            async def run() -> str | None:
                runs.append((job_id, name, clock.now()))
                return None

            return CronJob(id=job_id, schedule=Schedule(spec, UTC), run=run)

        run_log = PostgresRunLog(pool)

        async def record(job_id: str, started: float, finished: float, error: str | None, note: str | None) -> None:
            await run_log.append(RunRecord(job_id=job_id, started_at=started, finished_at=finished,
                                           status="ok" if error is None else "error", error=error))

        # A short real-time sleep bound: the loop sleeps on real time, the schedule is on the fake
        # clock, so the loop must look at the clock again soon after the test moves it.
        self.scheduler = CronScheduler(
            [job("every", ScheduleSpec(every=f"{STEP:.0f}s")), job("minutely", ScheduleSpec(cron="* * * * *"))],
            PostgresScheduleStore(pool), clock, max_sleep_seconds=0.005, run_log=record,
            claims=PostgresCronClaims(pool, name=name, now=clock.now),
        )
        self.scope: anyio.CancelScope | None = None
        self.stopped = anyio.Event()

    async def serve(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        try:
            with anyio.CancelScope() as scope:
                self.scope = scope
                await self.scheduler.run(task_status=task_status)
        finally:
            self.stopped.set()

    def past(self, moment: float) -> bool:
        """Whether this loop has dealt with every tick up to `moment` (ran it or lost its claim)."""
        return all(state.next_run is not None and state.next_run > moment
                   for state in self.scheduler.states.values())

    async def kill(self) -> None:
        """Cancels the loop and waits until it has stopped.

        anyio delivers a cancellation to a task whose wait has already completed only on a later
        loop turn; without the wait, a loop killed right after the clock moved could still claim
        the new tick first (a death after claiming, which this test does not model).
        """
        assert self.scope is not None
        self.scope.cancel()
        await self.stopped.wait()


async def wait_until(what: str, condition: Callable[[], bool]) -> None:
    with anyio.fail_after(BOUND):
        # The scheduler signals no progress of its own; its states are polled, bounded by BOUND.
        while not condition():  # noqa: ASYNC110
            await anyio.sleep(0.002)
    assert condition(), what


def all_past(loops: list[Replica], moment: float) -> Callable[[], bool]:
    return lambda: all(r.past(moment) for r in loops)


async def test_a_cron_job_fires_once_per_tick_across_three_replicas_over_five_minutes(pools: list[PgPool]) -> None:
    clock = FakeClock(START)
    runs: list[tuple[str, str, float]] = []
    a, b, c = (Replica(name, pool, clock, runs) for name, pool in zip("abc", pools, strict=True))
    late = Replica("c-late", pools[2], clock, runs)  # c's process restarted: a new scheduler, same pool
    ticks = int(MINUTES * 60 / STEP)

    async with anyio.create_task_group() as tg:
        await tg.start(a.serve)  # a schedules the jobs first; b and c take up a's stored states
        await tg.start(b.serve)
        await tg.start(c.serve)
        assert a.scheduler.states["every"].next_run == b.scheduler.states["every"].next_run \
            == c.scheduler.states["every"].next_run == START + STEP
        live = [a, b, c]
        for tick in range(1, ticks + 1):
            if tick == 10:
                await a.kill()  # the leader dies between ticks; its claims stay in the table
                live = [b, c]
            if tick == 20:
                await c.kill()
            clock.t = START + tick * STEP
            if tick == 20:
                await tg.start(late.serve)  # reads the states b saved, then serves
                live = [b, late]
            await wait_until(f"tick {tick} dealt with", all_past(live, clock.t))
        tg.cancel_scope.cancel()

    every = [t for job, _, t in runs if job == "every"]
    assert every == [START + k * STEP for k in range(1, ticks + 1)]  # each tick once, none skipped, in order
    minutely = [t for job, _, t in runs if job == "minutely"]
    assert minutely == [START + 20 + 60 * k for k in range(MINUTES)]  # 5 minute ticks, each once
    # Dead loops ran nothing after their death: a's last tick is 9, c's is 19.
    assert all(t < START + 10 * STEP for _, name, t in runs if name == "a")
    assert all(t < START + 20 * STEP for _, name, t in runs if name == "c")
    assert all(name in {"b", "c-late"} for _, name, t in runs if t >= START + 20 * STEP)

    history = await PostgresRunLog(pools[1]).recent("every", limit=100)
    assert sorted(r.started_at for r in history) == every  # the shared run history: one record per tick
    stored = await PostgresScheduleStore(pools[0]).load()
    assert stored["every"].next_run == START + (ticks + 1) * STEP
