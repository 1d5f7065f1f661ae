"""Shared state on PostgreSQL (issue #16): two adapter instances over one database, as two gateway
replicas would have, see one pairing state, one rate window, one cron claim per tick, one plugin
key-value space and one audit log."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC
from pathlib import Path

import anyio
import pytest

from rustyclaw.adapters.audit.postgres import PostgresAuditLog
from rustyclaw.adapters.cron.postgres import (
    PostgresAddedJobs,
    PostgresCronClaims,
    PostgresRunLog,
    PostgresScheduleStore,
)
from rustyclaw.adapters.cron.run_log import RunRecord
from rustyclaw.adapters.cron.scheduler import CronJob, CronScheduler
from rustyclaw.adapters.pairing.postgres import PostgresPairingStore
from rustyclaw.adapters.plugins.host_api import PluginHost
from rustyclaw.adapters.plugins.postgres_kv import PostgresPluginStorage
from rustyclaw.adapters.ratelimit.postgres import PostgresRateCounter
from rustyclaw.adapters.storage import pg_locks
from rustyclaw.adapters.storage.factory import open_shared_state
from rustyclaw.adapters.storage.pg_pool import PgPool
from rustyclaw.adapters.storage.postgres import PostgresStore
from rustyclaw.config.schema import CronJobConfig, StorageConfig
from rustyclaw.domain.access import RATE_LIMIT_REPLY, AccessController, ChannelAccess, RateLimit
from rustyclaw.domain.audit import AuditRecord
from rustyclaw.domain.cron import Schedule, ScheduleSpec
from rustyclaw.domain.messages import InboundMessage
from rustyclaw.domain.pairing import PairingService
from rustyclaw.domain.plugins import PluginError, PluginManifest
from tests.fixtures.postgres_schema import temporary_schema
from tests.unit.fakes import FakeClock

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def pools() -> AsyncIterator[tuple[PgPool, PgPool]]:
    """Two pools on one fresh schema: replica A's and replica B's."""
    async with temporary_schema("shared") as dsn:
        first, second = PgPool(dsn, min_size=1, max_size=3), PgPool(dsn, min_size=1, max_size=3)
        async with anyio.create_task_group() as tg:  # both migrate at once: the lock orders them
            tg.start_soon(first.start)
            tg.start_soon(second.start)
        try:
            yield first, second
        finally:
            await first.aclose()
            await second.aclose()


# -- 1. pairing -------------------------------------------------------------------------------------


async def test_a_code_issued_on_one_replica_is_approved_on_the_other(pools: tuple[PgPool, PgPool]) -> None:
    clock = FakeClock()
    a = PairingService(PostgresPairingStore(pools[0]), clock)
    b = PairingService(PostgresPairingStore(pools[1]), clock)

    outcome = await a.request("telegram", "111", sender_name="Ann")
    assert outcome.new and outcome.code is not None
    assert [r.sender_id for r in await b.pending("telegram")] == ["111"]
    again = await b.request("telegram", "111")  # the same sender reaching replica B: same code
    assert again.code == outcome.code and not again.new

    assert not await a.is_approved("telegram", "111")
    approved = await b.approve("telegram", outcome.code)
    assert approved is not None and approved.sender_name == "Ann"
    assert await a.is_approved("telegram", "111")
    assert await a.pending("telegram") == []
    assert await a.store.channels() == ["telegram"]


async def test_first_codes_issued_at_once_on_two_replicas_are_both_kept(pools: tuple[PgPool, PgPool]) -> None:
    clock = FakeClock()
    services = [PairingService(PostgresPairingStore(pool), clock) for pool in pools]
    senders = [str(n) for n in range(3)]

    async with anyio.create_task_group() as tg:
        for n, sender in enumerate(senders):
            tg.start_soon(services[n % 2].request, "discord", sender)

    pending = await services[0].pending("discord")
    assert sorted(r.sender_id for r in pending) == senders
    assert len({r.code for r in pending}) == 3


# -- 2. rate limits ---------------------------------------------------------------------------------

KEY = ("telegram", "default", "42")


async def test_two_replicas_share_one_rate_window(pools: tuple[PgPool, PgPool]) -> None:
    clock = FakeClock()
    a, b = PostgresRateCounter(pools[0], clock), PostgresRateCounter(pools[1], clock)
    limit = RateLimit(messages=3, per_seconds=60)

    outcomes = [await (a if n % 2 == 0 else b).hit(KEY, limit) for n in range(5)]
    assert outcomes == ["ok", "ok", "ok", "notice", "drop"]  # the 4th is over the limit, on either
    assert await a.hit(("telegram", "default", "other"), limit) == "ok"  # windows are per sender

    clock.t += 60  # every hit has left the window
    assert await b.hit(KEY, limit) == "ok"
    assert await a.hit(KEY, limit) == "ok"


async def test_concurrent_checks_on_two_replicas_never_exceed_the_limit(pools: tuple[PgPool, PgPool]) -> None:
    clock = FakeClock()
    counters = [PostgresRateCounter(pool, clock) for pool in pools]
    limit = RateLimit(messages=5, per_seconds=60)
    outcomes: list[str] = []

    async def one(n: int) -> None:
        outcomes.append(await counters[n % 2].hit(KEY, limit))

    async with anyio.create_task_group() as tg:
        for n in range(12):
            tg.start_soon(one, n)
    assert sorted(outcomes) == sorted(["ok"] * 5 + ["notice"] + ["drop"] * 6)


async def test_access_control_on_two_replicas_refuses_the_sender_over_the_shared_limit(
    pools: tuple[PgPool, PgPool],
) -> None:
    clock = FakeClock()
    settings = {"telegram": ChannelAccess(dm_policy="open", allow_from=("*",),
                                          rate_limit=RateLimit(messages=2, per_seconds=60))}
    gates = [AccessController(settings, clock, rates=PostgresRateCounter(pool, clock)) for pool in pools]
    message = InboundMessage(channel="telegram", peer_id="42", sender_id="42", text="hi")

    first, second, third = [await gate.check(message) for gate in (gates[0], gates[1], gates[0])]
    assert first.allowed and second.allowed
    assert not third.allowed and third.reply == RATE_LIMIT_REPLY
    assert not (await gates[1].check(message)).allowed


# -- 3. audit ---------------------------------------------------------------------------------------


def audit_record(n: int, agent: str) -> AuditRecord:
    return AuditRecord(time=1_700_000_000.0 + n, agent=agent, session=f"agent:{agent}:main", sender="42",
                       channel="telegram", tool="exec", arguments='{"command": "ls"}', verdict="allow",
                       rule="default", status="ok")


async def test_audit_records_of_two_replicas_land_in_one_log(pools: tuple[PgPool, PgPool]) -> None:
    a, b = PostgresAuditLog(pools[0]), PostgresAuditLog(pools[1])
    await a.record(audit_record(0, "a"))
    await b.record(audit_record(1, "b"))
    await a.record(audit_record(2, "a"))

    assert [r.agent for r in await b.recent()] == ["a", "b", "a"]
    assert await a.recent(2) == [audit_record(1, "b"), audit_record(2, "a")]


async def test_a_closed_audit_log_drops_records_without_raising(pools: tuple[PgPool, PgPool]) -> None:
    log_a = PostgresAuditLog(pools[0])
    await log_a.aclose()
    await log_a.record(audit_record(0, "a"))  # must not raise: a failing log never stops a turn
    assert await PostgresAuditLog(pools[1]).recent() == []


# -- 4. cron ----------------------------------------------------------------------------------------


async def test_exactly_one_of_two_claimers_gets_a_tick(pools: tuple[PgPool, PgPool]) -> None:
    claimers = [PostgresCronClaims(pool, name=f"replica-{n}") for n, pool in enumerate(pools)]
    won: list[int] = []

    async def claim(n: int) -> None:
        if await claimers[n % 2].claim("daily", 1_700_000_060.0):
            won.append(n)

    async with anyio.create_task_group() as tg:
        for n in range(8):
            tg.start_soon(claim, n)
    assert len(won) == 1
    assert await claimers[0].claim("daily", 1_700_000_120.0)  # the next tick is free again
    assert await claimers[1].claim("other", 1_700_000_060.0)  # and so is another job's tick


async def test_two_replica_schedulers_run_each_tick_once(pools: tuple[PgPool, PgPool]) -> None:
    clock = FakeClock(1_700_000_000.0)
    runs: list[tuple[int, float]] = []

    def replica(n: int) -> CronScheduler:
        async def run() -> str | None:
            runs.append((n, clock.now()))
            return None

        job = CronJob(id="tick", schedule=Schedule(ScheduleSpec(every="1m"), UTC), run=run)
        return CronScheduler([job], PostgresScheduleStore(pools[n]), clock, claims=PostgresCronClaims(pools[n]))

    first = replica(0)
    await first.start()  # the first replica up schedules the job; the second takes its state
    second = replica(1)
    await second.start()
    assert second.states["tick"].next_run == first.states["tick"].next_run

    for _ in range(5):  # five minutes of controlled clock, both replicas woken at every tick
        clock.t += 60
        async with anyio.create_task_group() as tg:
            tg.start_soon(first.run_due)
            tg.start_soon(second.run_due)
    assert [t for _, t in runs] == [1_700_000_000.0 + 60 * k for k in range(1, 6)]
    stored = await PostgresScheduleStore(pools[1]).load()
    assert stored["tick"].next_run == 1_700_000_000.0 + 360


async def test_a_replica_that_starts_leading_takes_up_the_states_another_saved(pools: tuple[PgPool, PgPool]) -> None:
    clock = FakeClock(1_700_000_000.0)
    ran: list[str] = []

    def replica(n: int) -> CronScheduler:
        async def run() -> str | None:
            ran.append(f"replica {n}")
            return None

        job = CronJob(id="tick", schedule=Schedule(ScheduleSpec(every="1m"), UTC), run=run)
        return CronScheduler([job], PostgresScheduleStore(pools[n]), clock, claims=PostgresCronClaims(pools[n]))

    leader, follower = replica(0), replica(1)
    await leader.start()
    await follower.start()  # both start at once; only the leader runs its scheduler
    for _ in range(3):
        clock.t += 60
        await leader.run_due()
    assert follower.states["tick"].runs == 0  # what it read at start

    async with anyio.create_task_group() as tg:  # the leader is gone; the follower leads now
        await tg.start(follower.run)
        assert follower.states["tick"].runs == 3
        assert follower.states["tick"].next_run == leader.states["tick"].next_run
        tg.cancel_scope.cancel()
    assert ran == ["replica 0"] * 3


async def test_cron_state_run_history_and_added_jobs_are_shared(pools: tuple[PgPool, PgPool]) -> None:
    from rustyclaw.ports.schedule_store import JobState

    states = {"a": JobState(anchor=1.0, signature="every:60", next_run=61.0, runs=2, last_status="ok"),
              "b": JobState(anchor=2.0, signature="cron:* * * * *")}
    await PostgresScheduleStore(pools[0]).save(states)
    assert await PostgresScheduleStore(pools[1]).load() == states
    dropping = PostgresScheduleStore(pools[1])
    await dropping.load()
    await dropping.save({"b": states["b"]})
    assert await PostgresScheduleStore(pools[0]).load() == {"b": states["b"]}

    # Each replica writes only what it changed: A's run of "b" survives B saving its own map.
    a, b = PostgresScheduleStore(pools[0]), PostgresScheduleStore(pools[1])
    mine, theirs = await a.load(), await b.load()
    mine["b"].runs = 5
    await a.save(mine)
    theirs["c"] = JobState(anchor=3.0, signature="every:3600")
    await b.save(theirs)
    stored = await PostgresScheduleStore(pools[0]).load()
    assert stored["b"].runs == 5 and set(stored) == {"b", "c"}

    log_a, log_b = PostgresRunLog(pools[0]), PostgresRunLog(pools[1])
    await log_a.append(RunRecord(job_id="a", started_at=10.0, finished_at=11.0, status="ok", note="kept"))
    await log_b.append(RunRecord(job_id="b", started_at=20.0, finished_at=21.0, status="error", error="boom"))
    assert [(r.job_id, r.status) for r in await log_a.recent()] == [("a", "ok"), ("b", "error")]
    assert [r.error for r in await log_a.recent("b")] == ["boom"]

    job = CronJobConfig.model_validate({"id": "hello", "schedule": {"every": "1h"}, "message": "hi"})
    await PostgresAddedJobs(pools[0]).save([job])
    assert [j.id for j in await PostgresAddedJobs(pools[1]).load()] == ["hello"]


# -- 5. plugin key-value storage --------------------------------------------------------------------


def manifest(name: str) -> PluginManifest:
    return PluginManifest(name=name, version="1.0.0", runtime="python", entry="plugin.py", permissions=["storage"])


async def test_plugin_storage_written_on_one_replica_is_read_on_the_other(pools: tuple[PgPool, PgPool]) -> None:
    a = PluginHost(storage=PostgresPluginStorage(pools[0]))
    b = PluginHost(storage=PostgresPluginStorage(pools[1]))
    notes, other = manifest("notes"), manifest("other")

    await a.call(notes, "storage.set", {"key": "list", "value": ["milk", {"n": 2}]})
    assert await b.call(notes, "storage.get", {"key": "list"}) == ["milk", {"n": 2}]
    assert await b.call(other, "storage.get", {"key": "list"}) is None  # each plugin has its own space
    await b.call(notes, "storage.set", {"key": "count", "value": 3})
    assert await a.call(notes, "storage.keys", {}) == ["count", "list"]
    assert await a.call(notes, "storage.delete", {"key": "list"}) is True
    assert await b.call(notes, "storage.delete", {"key": "list"}) is False
    assert await b.call(notes, "storage.keys", {}) == ["count"]


async def test_plugin_storage_keeps_its_size_limit_across_replicas(pools: tuple[PgPool, PgPool]) -> None:
    a, b = PostgresPluginStorage(pools[0], max_bytes=100), PostgresPluginStorage(pools[1], max_bytes=100)
    await a.set("notes", "k1", "x" * 40)
    with pytest.raises(PluginError, match="limit is 100"):
        await b.set("notes", "k2", "y" * 60)
    await b.set("notes", "k1", "z" * 60)  # replacing a key counts its new size only
    assert await a.get("notes", "k1") == "z" * 60
    assert await a.keys("notes") == ["k1"]


# -- 6. turn-lock waiters wake on NOTIFY --------------------------------------------------------------


@pytest.fixture
async def two_stores() -> AsyncIterator[tuple[PostgresStore, PostgresStore]]:
    async with temporary_schema("waiters") as dsn:
        first, second = PostgresStore(dsn, max_size=2), PostgresStore(dsn, max_size=2)
        await first.start()
        await second.start()
        try:
            yield first, second
        finally:
            await first.aclose()
            await second.aclose()


async def contend(
    holder: PostgresStore, waiter: PostgresStore, let_go: Callable[[PostgresStore], Awaitable[None]] | None,
) -> list[str]:
    """`holder` takes the key, `waiter` queues for it; `let_go(holder)` ends the holder's hold."""
    order: list[str] = []
    held, release = anyio.Event(), anyio.Event()

    async def hold() -> None:
        async with holder.turn_lock("agent:main:main"):
            order.append("holder in")
            held.set()
            await release.wait()
            if let_go is not None:
                await let_go(holder)
            order.append("holder out")

    async def wait() -> None:
        async with waiter.turn_lock("agent:main:main"):
            order.append("waiter in")

    async with anyio.create_task_group() as tg:
        tg.start_soon(hold)
        await held.wait()
        tg.start_soon(wait)
        # Let the holder go once the waiter has found the key taken and opened its listener.
        while waiter._locks is None or waiter._locks._reader is None:
            await anyio.lowlevel.checkpoint()
        release.set()
    return order


async def test_a_waiter_on_another_replica_wakes_on_the_release_notification(
    two_stores: tuple[PostgresStore, PostgresStore], monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Without a notification the waiter would wait an hour: only the NOTIFY can let it in.
    monkeypatch.setattr(pg_locks, "FALLBACK_WAIT", 3600.0)
    first, second = two_stores
    assert await contend(first, second, None) == ["holder in", "holder out", "waiter in"]
    assert await contend(second, first, None) == ["holder in", "holder out", "waiter in"]
    for store in two_stores:  # nothing is kept for keys nobody waits for any more
        assert store._locks is not None and store._locks._waiting == {}


async def test_a_waiter_still_gets_a_lock_whose_holder_vanished_without_notifying(
    two_stores: tuple[PostgresStore, PostgresStore], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(pg_locks, "FALLBACK_WAIT", 0.05)
    first, second = two_stores

    async def vanish(store: PostgresStore) -> None:
        assert store._locks is not None
        await store._locks._drop()  # the connection goes: the server frees the lock, nobody notifies

    assert await contend(first, second, vanish) == ["holder in", "holder out", "waiter in"]


# -- selection by config --------------------------------------------------------------------------


async def test_the_storage_backend_alone_selects_where_the_shared_state_lives(tmp_path: Path) -> None:
    from rustyclaw.adapters.audit.jsonl import JsonlAuditLog
    from rustyclaw.adapters.cron.state_file import JsonScheduleStore
    from rustyclaw.adapters.pairing.jsonfile import JsonFilePairingStore
    from rustyclaw.adapters.plugins.host_api import PluginStorage
    from rustyclaw.adapters.ratelimit.memory import MemoryRateCounter

    clock = FakeClock()
    for backend in ("sqlite", "json"):
        local = open_shared_state(StorageConfig(backend=backend), tmp_path, clock)
        assert isinstance(local.pairing, JsonFilePairingStore) and isinstance(local.rates, MemoryRateCounter)
        assert isinstance(local.audit, JsonlAuditLog) and isinstance(local.schedule, JsonScheduleStore)
        assert isinstance(local.plugin_kv, PluginStorage) and local.claims is None and local.pool is None

    async with temporary_schema("factory") as dsn:
        config = StorageConfig.model_validate({"backend": "postgres", "postgres": {"dsn": dsn}})
        replicas = [open_shared_state(config, tmp_path / f"r{n}", clock) for n in range(2)]
        assert isinstance(replicas[0].pairing, PostgresPairingStore)
        assert isinstance(replicas[0].rates, PostgresRateCounter)
        assert isinstance(replicas[0].schedule, PostgresScheduleStore) and replicas[0].claims is not None
        for replica in replicas:
            await replica.start()
        try:
            await replicas[0].pairing.add_approved("telegram", "7")
            assert await replicas[1].pairing.approved("telegram") == frozenset({"7"})
            await replicas[1].plugin_kv.set("notes", "k", 1)
            assert await replicas[0].plugin_kv.get("notes", "k") == 1
            claims = [replica.claims for replica in replicas]
            assert claims[0] is not None and claims[1] is not None
            assert await claims[0].claim("job", 60.0)
            assert not await claims[1].claim("job", 60.0)
        finally:
            for replica in replicas:
                await replica.aclose()
        assert not (tmp_path / "r0").exists()  # nothing went to the state folders


async def test_openclaw_allowlists_migrate_into_postgresql_on_that_backend(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from rustyclaw.adapters.openclaw.migrate import MigrationResult, _pairing

    plan = SimpleNamespace(allow_from={"telegram": ["11", "12"], "discord": ["7"]})
    async with temporary_schema("migrate") as dsn:
        storage = StorageConfig.model_validate({"backend": "postgres", "postgres": {"dsn": dsn}})
        result = MigrationResult()
        await _pairing(plan, tmp_path, result, storage)
        await _pairing(plan, tmp_path, result, storage)  # re-running adds nothing
        assert (result.pairing_added, result.pairing_total) == (3, 6)
        pool = PgPool(dsn)
        await pool.start()
        try:
            store = PostgresPairingStore(pool)
            assert await store.approved("telegram") == frozenset({"11", "12"})
            assert await store.channels() == ["discord", "telegram"]
        finally:
            await pool.aclose()
    assert not (tmp_path / "credentials").exists()
