"""LeaderDuties against a lease double: a renewal that hangs or keeps failing ends the duties once the
lease may have expired, and a lease won back starts them afresh. (The PostgreSQL lease itself:
tests/integration/test_pg_leader.py.)"""

from __future__ import annotations

import anyio
import anyio.abc
import pytest

from rustyclaw.domain.errors import StorageUnavailableError
from rustyclaw.leader import LeaderDuties
from rustyclaw.lifecycle import Ready
from rustyclaw.ports.leader_lease import LeaseGrant

pytestmark = pytest.mark.anyio
BOUND = 30.0  # a hang guard, not an expectation


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class ScriptedLease:
    """Grants while `mode` is "grant"; "hang" never answers; "fail" raises as a dropped database would."""

    name = "gateway"
    holder = "me"
    ttl_seconds = 0.6

    def __init__(self) -> None:
        self.mode = "grant"
        self.term = 1
        self.released = False
        self.closed = False

    async def start(self) -> None:
        pass

    async def acquire(self) -> LeaseGrant | None:
        if self.mode == "hang":
            await anyio.sleep_forever()
        if self.mode == "fail":
            raise StorageUnavailableError("cannot renew the leader lease in PostgreSQL x: connection refused")
        return LeaseGrant(term=self.term)

    async def release(self) -> None:
        self.released = True

    async def aclose(self) -> None:
        self.closed = True


class Duty:
    def __init__(self) -> None:
        self.starts = 0
        self.running = False
        self.changed = anyio.Event()

    def _note(self, running: bool) -> None:
        self.running = running
        self.changed.set()
        self.changed = anyio.Event()

    async def __call__(self, ready: Ready) -> None:
        self.starts += 1
        self._note(True)
        ready()
        try:
            await anyio.sleep_forever()
        finally:
            self._note(False)

    async def until(self, running: bool, starts: int) -> None:
        with anyio.fail_after(BOUND):
            while self.running != running or self.starts < starts:
                await self.changed.wait()


async def start(group: anyio.abc.TaskGroup, duties: LeaderDuties) -> None:
    async def body(*, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        await duties.run(lambda: task_status.started())

    await group.start(body)


@pytest.mark.parametrize("trouble", ["hang", "fail"])
async def test_renewals_that_hang_or_fail_end_the_duties_and_a_won_lease_restarts_them(trouble: str) -> None:
    lease, duty = ScriptedLease(), Duty()
    duties = LeaderDuties(lease)
    duties.add("cron", duty)
    async with anyio.create_task_group() as group:
        await start(group, duties)
        await duty.until(running=True, starts=1)
        lease.mode = trouble
        await duty.until(running=False, starts=1)  # once the deadline passes without a renewal
        assert not duties.leading
        lease.mode, lease.term = "grant", 2
        await duty.until(running=True, starts=2)
        assert duties.leading and duties.term == 2 and duties.terms_led == 2
        await duties.stop()
        assert not duty.running and lease.released and lease.closed
        group.cancel_scope.cancel()


async def test_a_follower_never_starts_the_duties_and_releases_nothing() -> None:
    lease, duty = ScriptedLease(), Duty()

    async def refused() -> LeaseGrant | None:
        return None

    lease.acquire = refused  # type: ignore[method-assign]
    duties = LeaderDuties(lease)
    duties.add("cron", duty)
    async with anyio.create_task_group() as group:
        await start(group, duties)
        assert not duties.leading and duties.report() == {"leader": False, "term": None}
        await duties.stop()
        group.cancel_scope.cancel()
    assert duty.starts == 0 and not lease.released and lease.closed
