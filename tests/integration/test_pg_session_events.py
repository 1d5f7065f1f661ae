"""Session events on real PostgreSQL (adapters/storage/pg_events.py): two buses over one database play
two replicas. An event published on one reaches the other's subscribers of that session only, in
order; a body over NOTIFY's limit travels through the table; another schema hears nothing.

Every wait is a receive bounded only so a bug fails the test instead of hanging it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import psycopg
import pytest

from rustyclaw.adapters.storage.pg_events import INLINE_LIMIT, PostgresSessionEvents
from rustyclaw.ports.session_events import SessionEvent
from tests.fixtures.postgres_schema import temporary_schema

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]

BOUND = 30.0  # a hang guard, not an expectation


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def dsn() -> AsyncIterator[str]:
    async with temporary_schema("events") as schema_dsn:
        yield schema_dsn


async def started(dsn: str) -> PostgresSessionEvents:
    bus = PostgresSessionEvents(dsn)
    await bus.start()
    return bus


async def test_an_event_published_on_one_bus_reaches_the_other_bus_subscribers_in_order(dsn: str) -> None:
    a, b = await started(dsn), await started(dsn)
    try:
        async with b.subscribe("web:s1") as on_b, a.subscribe("web:s1") as on_a, b.subscribe("web:other") as other:
            for n in range(3):
                await a.publish(SessionEvent(session="web:s1", origin="sock-1", body=f'{{"n": {n}}}'))
            await b.publish(SessionEvent(session="web:other", origin="sock-2", body="{}"))
            with anyio.fail_after(BOUND):
                got_b = [await on_b.receive() for _ in range(3)]
                got_a = [await on_a.receive() for _ in range(3)]  # the publishing bus hears its own too
                assert await other.receive() == SessionEvent(session="web:other", origin="sock-2", body="{}")
            assert [e.body for e in got_b] == [e.body for e in got_a] == ['{"n": 0}', '{"n": 1}', '{"n": 2}']
            assert {e.origin for e in got_b} == {"sock-1"}
            # web:other's subscriber got only its own event, and nothing else is queued anywhere.
            with pytest.raises(anyio.WouldBlock):
                on_b.receive_nowait()
            with pytest.raises(anyio.WouldBlock):
                other.receive_nowait()
    finally:
        await a.aclose()
        await b.aclose()


async def test_a_body_over_the_notify_limit_is_stored_and_fetched(dsn: str) -> None:
    a, b = await started(dsn), await started(dsn)
    big = '"' + "é" * INLINE_LIMIT + '"'  # over 8000 bytes in UTF-8
    try:
        async with b.subscribe("web:big") as on_b:
            await a.publish(SessionEvent(session="web:big", origin="sock-1", body=big))
            await a.publish(SessionEvent(session="web:big", origin="sock-1", body='"small"'))
            with anyio.fail_after(BOUND):
                assert (await on_b.receive()).body == big
                assert (await on_b.receive()).body == '"small"'
    finally:
        await a.aclose()
        await b.aclose()


async def test_a_subscription_closed_hears_nothing_and_another_schema_is_apart(dsn: str) -> None:
    a, b = await started(dsn), await started(dsn)
    async with temporary_schema("events") as elsewhere:
        c = await started(elsewhere)
        try:
            assert c.channel != a.channel == b.channel
            async with c.subscribe("web:s") as on_c:
                async with b.subscribe("web:s") as on_b:
                    await a.publish(SessionEvent(session="web:s", origin="x", body="1"))
                    with anyio.fail_after(BOUND):
                        assert (await on_b.receive()).body == "1"
                # a's event was out (b heard it) before c published: c, on its own schema's channel, has only c's.
                await c.publish(SessionEvent(session="web:s", origin="y", body="2"))
                with anyio.fail_after(BOUND):
                    assert (await on_c.receive()).body == "2"
                with pytest.raises(anyio.WouldBlock):
                    on_c.receive_nowait()
        finally:
            await c.aclose()
            await a.aclose()
            await b.aclose()


async def test_a_listener_whose_connection_was_killed_listens_again(dsn: str) -> None:
    a, b = await started(dsn), await started(dsn)
    try:
        async with b.subscribe("web:s") as on_b:
            async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as admin:
                cursor = await admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = %s",
                    (f'LISTEN "{b.channel}"',))
                assert len(await cursor.fetchall()) == 2  # a's and b's listeners
            with anyio.fail_after(BOUND):
                await b.wait_generation(2)
                await a.wait_generation(2)
            await a.publish(SessionEvent(session="web:s", origin="x", body="after"))
            with anyio.fail_after(BOUND):
                assert (await on_b.receive()).body == "after"
    finally:
        await a.aclose()
        await b.aclose()
