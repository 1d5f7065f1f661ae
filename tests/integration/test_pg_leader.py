"""The leader lease on real PostgreSQL (migration 004, adapters/storage/pg_leader.py) and the leader
duties it gates (rustyclaw/leader.py): two replicas in one process, each with its own lease object
and connection, elect one leader; a leader that stops renewing is replaced; a lost lease stops the
duties; a clean stop hands the lease over at once.

Every wait is on an event or on the duties' change notification, bounded only so a bug fails the
test instead of hanging it; nothing asserts how long anything took.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import psycopg
import pytest

from rustyclaw.adapters.storage.pg_leader import PostgresLeaderLease
from rustyclaw.leader import LeaderDuties
from rustyclaw.lifecycle import Ready, ServiceFailed
from tests.fixtures.postgres_schema import temporary_schema

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]

TTL = 1.0  # short, so a takeover after an expiry happens quickly; correctness never depends on it
BOUND = 60.0  # a hang guard, not an expectation


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def dsn() -> AsyncIterator[str]:
    async with temporary_schema("leader") as schema_dsn:
        yield schema_dsn


class Journal:
    """What the duties did, across replicas: starts and cancellations in order."""

    def __init__(self) -> None:
        self.events: list[str] = []
        self.changed = anyio.Event()

    def note(self, event: str) -> None:
        self.events.append(event)
        self.changed.set()
        self.changed = anyio.Event()

    def duty(self, replica: str) -> Callable[[Ready], Any]:
        async def run(ready: Ready) -> None:
            self.note(f"{replica}:start")
            ready()
            try:
                await anyio.sleep_forever()
            finally:
                self.note(f"{replica}:cancelled")

        return run


def replica(dsn: str, name: str, journal: Journal) -> LeaderDuties:
    duties = LeaderDuties(PostgresLeaderLease(dsn, "gateway", TTL, holder=name))
    duties.add("work", journal.duty(name))
    return duties


async def until(duties: LeaderDuties, condition: Callable[[], bool]) -> None:
    with anyio.fail_after(BOUND):
        while not condition():
            await duties.wait_changed()


async def journal_until(journal: Journal, event: str) -> None:
    with anyio.fail_after(BOUND):
        while event not in journal.events:
            await journal.changed.wait()


async def admin(dsn: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        cursor = await conn.execute(sql, params or None)
        return await cursor.fetchall() if cursor.description else []


async def start(group: anyio.abc.TaskGroup, duties: LeaderDuties) -> anyio.CancelScope:
    """Runs `duties` in its own cancel scope (cancelling it is a crash: no release)."""
    scope = anyio.CancelScope()

    async def body(*, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        with scope:
            await duties.run(lambda: task_status.started())

    await group.start(body)
    return scope


async def test_two_holders_elect_one_leader_and_the_other_stays_follower(dsn: str) -> None:
    journal = Journal()
    a, b = replica(dsn, "a", journal), replica(dsn, "b", journal)
    async with anyio.create_task_group() as group:
        await start(group, a)  # ready after its first round: on a new database, it has the lease
        await start(group, b)  # its first round found a's lease
        assert a.leading and not b.leading
        await journal_until(journal, "a:start")
        await until(a, lambda: a.renewals >= 3)  # b has had rounds meanwhile, all refused
        assert a.leading and not b.leading and b.terms_led == 0
        assert journal.events == ["a:start"]
        rows = await admin(dsn, "SELECT holder, term FROM leader_leases WHERE name = 'gateway'")
        assert rows == [("a", 1)]
        await b.stop()
        await a.stop()
        group.cancel_scope.cancel()


async def test_a_leader_that_stops_renewing_is_replaced(dsn: str) -> None:
    journal = Journal()
    a, b = replica(dsn, "a", journal), replica(dsn, "b", journal)
    async with anyio.create_task_group() as group:
        crash_a = await start(group, a)
        await start(group, b)
        await journal_until(journal, "a:start")
        crash_a.cancel()  # like a kill -9: no release, the lease stands until it expires
        await journal_until(journal, "a:cancelled")
        await until(b, lambda: b.leading)
        await journal_until(journal, "b:start")
        assert journal.events == ["a:start", "a:cancelled", "b:start"]
        assert b.term == 2  # the lease changed hands
        await b.stop()
        group.cancel_scope.cancel()


async def test_a_closed_connection_is_reopened_and_the_lease_kept(dsn: str) -> None:
    journal = Journal()
    a = replica(dsn, "a", journal)
    async with anyio.create_task_group() as group:
        await start(group, a)
        await journal_until(journal, "a:start")
        killed = await admin(dsn, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                  "WHERE application_name = 'rustyclaw-leader'")
        assert killed == [(True,)]
        renewed = a.renewals
        # The next round fails on the dead connection, a later one reconnects and renews; as long
        # as that happens within the lease, the duty is never interrupted.
        await until(a, lambda: a.renewals > renewed + 1 or not a.leading)
        if a.leading:
            assert journal.events == ["a:start"]
        else:  # the reconnection took longer than the lease: the duty stopped, and comes back
            await until(a, lambda: a.leading)
            assert journal.events[:2] == ["a:start", "a:cancelled"]
        await a.stop()
        group.cancel_scope.cancel()


async def test_a_lease_taken_away_stops_the_duties_at_the_next_renewal(dsn: str) -> None:
    journal = Journal()
    a = replica(dsn, "a", journal)
    async with anyio.create_task_group() as group:
        await start(group, a)
        await journal_until(journal, "a:start")
        # Another holder with a long lease (as after a network partition healed the other way).
        await admin(dsn, "UPDATE leader_leases SET holder = 'thief', "
                         "expires_at = extract(epoch FROM clock_timestamp()) + 3600 WHERE name = 'gateway'")
        await journal_until(journal, "a:cancelled")
        assert not a.leading and a.term is None
        await a.stop()
        rows = await admin(dsn, "SELECT holder FROM leader_leases WHERE name = 'gateway'")
        assert rows == [("thief",)]  # a's release touched only its own lease
        group.cancel_scope.cancel()


async def test_a_clean_stop_releases_the_lease_for_the_next_leader_at_once(dsn: str) -> None:
    journal = Journal()
    a, c = replica(dsn, "a", journal), replica(dsn, "c", journal)
    async with anyio.create_task_group() as group:
        await start(group, a)
        await journal_until(journal, "a:start")
        await a.stop()
        assert journal.events == ["a:start", "a:cancelled"]
        await start(group, c)  # its very first round wins: no expiry to wait for
        assert c.leading and c.term == 2
        await c.stop()
        group.cancel_scope.cancel()


async def test_a_failing_duty_fails_the_leader_service(dsn: str) -> None:
    async def broken(ready: Ready) -> None:
        ready()
        raise RuntimeError("scheduler broke")

    duties = LeaderDuties(PostgresLeaderLease(dsn, "gateway", TTL, holder="a"))
    duties.add("cron", broken)
    with anyio.fail_after(BOUND), pytest.raises(ServiceFailed, match="cron failed: scheduler broke"):
        await duties.run(lambda: None)
    await duties.stop()  # releases: the next leader starts at once
    rows = await admin(dsn, "SELECT expires_at < extract(epoch FROM clock_timestamp()) FROM leader_leases")
    assert rows == [(True,)]
