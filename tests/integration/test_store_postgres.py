"""PostgreSQL store beyond the contract: errors, schema versions, dropped connections,
prepared statements and advisory turn locks across stores (two gateways on one database)."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import psycopg
import pytest

from rustyclaw.adapters.storage.migrations import discover
from rustyclaw.adapters.storage.postgres import PostgresStore
from rustyclaw.domain.errors import MissingExtraError, SchemaVersionError, StorageUnavailableError
from rustyclaw.domain.messages import ChatMessage, SessionEntry
from tests.fixtures.postgres_schema import TEST_DSN, temporary_schema

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]

ENTRY = SessionEntry(key="agent:main:main", session_id="s1")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def dsn() -> AsyncIterator[str]:
    async with temporary_schema("pgstore") as schema_dsn:
        yield schema_dsn


@asynccontextmanager
async def opened(dsn: str, **kwargs: Any) -> AsyncIterator[PostgresStore]:
    store = PostgresStore(dsn, **kwargs)
    await store.start()
    try:
        yield store
    finally:
        await store.aclose()


async def admin(sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    async with await psycopg.AsyncConnection.connect(TEST_DSN, autocommit=True) as conn:
        cursor = await conn.execute(sql, params or None)
        return await cursor.fetchall() if cursor.description else []


async def test_unreachable_server_names_the_host_and_hides_the_password() -> None:
    store = PostgresStore("postgresql://someone:s3cr3t-pw@127.0.0.1:1/rustyclaw", connect_timeout=2)
    with pytest.raises(StorageUnavailableError) as caught:
        await store.start()
    text = str(caught.value)
    assert "127.0.0.1:1/rustyclaw" in text
    assert "s3cr3t-pw" not in text
    await store.aclose()


async def test_a_newer_schema_is_refused(dsn: str) -> None:
    async with opened(dsn) as store:
        schema = store.schema
    await admin(f'INSERT INTO "{schema}".schema_version (version, name, applied_at) VALUES (999, %s, 0)', ("future",))
    with pytest.raises(SchemaVersionError, match="999"):
        await PostgresStore(dsn).start()


async def test_migrations_run_once_for_concurrent_starts(dsn: str) -> None:
    stores = [PostgresStore(dsn, min_size=0, max_size=1) for _ in range(3)]
    async with anyio.create_task_group() as tg:
        for store in stores:
            tg.start_soon(store.start)
    rows = await admin(f'SELECT version FROM "{stores[0].schema}".schema_version ORDER BY version')
    # Each shipped migration is recorded exactly once although three stores raced to apply it.
    assert rows == [(m.version,) for m in discover("postgres")]
    for store in stores:
        await store.aclose()


async def test_terminated_connections_are_retried(dsn: str, caplog: pytest.LogCaptureFixture) -> None:
    from psycopg.conninfo import make_conninfo

    name = f"rc-kill-{id(dsn)}"
    async with opened(make_conninfo(dsn, application_name=name), min_size=2, max_size=2) as store:
        await store.put_session(ENTRY)
        await store.append_messages(ENTRY, [ChatMessage(role="user", content="before")])
        killed = await admin(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s", (name,)
        )
        assert len(killed) >= 2  # the pool's connections and the turn-lock connection if open
        stored = await store.append_messages(ENTRY, [ChatMessage(role="user", content="after", inbound_id="x")])
        assert [m.content for m in stored] == ["after"]
        assert [m.content for m in await store.load_messages(ENTRY)] == ["before", "after"]
        assert "retrying" in caplog.text


async def test_a_write_cut_off_mid_statement_is_stored_once(dsn: str, caplog: pytest.LogCaptureFixture) -> None:
    async with opened(dsn, min_size=1, max_size=2) as store:
        await store.put_session(ENTRY)
        schema = store.schema
        async with await psycopg.AsyncConnection.connect(TEST_DSN) as blocker:
            await blocker.execute(f'LOCK TABLE "{schema}".messages IN EXCLUSIVE MODE')
            result: list[list[ChatMessage]] = []

            async def append() -> None:
                result.append(await store.append_messages(ENTRY, [ChatMessage(role="user", content="once", id="m1")]))

            async with anyio.create_task_group() as tg:
                tg.start_soon(append)
                waiting: list[tuple[Any, ...]] = []
                with anyio.fail_after(10):
                    while not waiting:
                        await anyio.sleep(0.02)
                        waiting = await admin(
                            "SELECT pid FROM pg_locks WHERE NOT granted AND relation = %s::regclass",
                            (f'"{schema}".messages',),
                        )
                # The insert is in flight, waiting for the table: cut its connection.
                await admin("SELECT pg_terminate_backend(%s)", (waiting[0][0],))
                await blocker.commit()
        assert [m.id for m in result[0]] == ["m1"]
        assert [m.id for m in await store.load_messages(ENTRY)] == ["m1"]
        assert "retrying" in caplog.text


class _LoseFirstInsertAnswer:
    """Wraps a pooled connection: the first message INSERT commits, then the link 'drops'."""

    def __init__(self, conn: Any, state: dict[str, int]) -> None:
        self._conn = conn
        self._state = state

    async def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
        cursor = await self._conn.execute(query, params, **kwargs)
        if str(query).startswith("INSERT INTO messages") and self._state["failures"] == 0:
            self._state["failures"] += 1
            await self._conn.close()
            raise psycopg.OperationalError("server closed the connection unexpectedly")
        return cursor

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


async def test_a_commit_whose_answer_was_lost_is_not_duplicated(dsn: str) -> None:
    async with opened(dsn, min_size=1, max_size=2) as store:
        await store.put_session(ENTRY)
        pool = store._pool
        assert pool is not None
        real_connection = pool.connection
        state = {"failures": 0}

        @asynccontextmanager
        async def flaky(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
            async with real_connection(*args, **kwargs) as conn:
                yield _LoseFirstInsertAnswer(conn, state)

        pool.connection = flaky  # type: ignore[method-assign]
        batch = [ChatMessage(role="user", content="q", inbound_id="tg:1"), ChatMessage(role="assistant", content="a")]
        stored = await store.append_messages(ENTRY, batch)
        pool.connection = real_connection  # type: ignore[method-assign]
        assert state["failures"] == 1
        assert [m.content for m in stored] == ["q", "a"]
        assert [m.content for m in await store.load_messages(ENTRY)] == ["q", "a"]


async def test_hot_statements_are_prepared(dsn: str) -> None:
    async with opened(dsn, min_size=1, max_size=1) as store:
        for n in range(3):
            await store.append_messages(ENTRY, [ChatMessage(role="user", content=str(n))])
            await store.load_messages(ENTRY)
        pool = store._pool
        assert pool is not None
        async with pool.connection() as conn:
            cursor = await conn.execute("SELECT statement FROM pg_prepared_statements")
            prepared = [row[0] for row in await cursor.fetchall()]
        assert any(s.startswith("INSERT INTO messages") for s in prepared)
        assert any(s.startswith("SELECT role, content") for s in prepared)


async def test_turn_lock_excludes_another_store_on_the_same_database(dsn: str) -> None:
    async with opened(dsn) as first, opened(dsn) as second:
        order: list[str] = []
        held, release = anyio.Event(), anyio.Event()

        async def holder() -> None:
            async with first.turn_lock(ENTRY.key):
                order.append("first in")
                held.set()
                await release.wait()
                order.append("first out")

        async def contender() -> None:
            async with second.turn_lock(ENTRY.key):
                order.append("second in")

        async with anyio.create_task_group() as tg:
            tg.start_soon(holder)
            await held.wait()
            rows = await admin(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                "AND ((classid::bigint << 32) | objid::bigint) = (%s::bigint & x'ffffffffffffffff'::bigint)",
                (first.advisory_lock_id(ENTRY.key),),
            )
            assert rows == [(1,)]
            tg.start_soon(contender)
            with anyio.fail_after(5):
                async with second.turn_lock("agent:main:other"):
                    order.append("other key")
            await anyio.sleep(0.3)
            assert order == ["first in", "other key"]
            release.set()
        assert order == ["first in", "other key", "first out", "second in"]


async def test_missing_psycopg_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(MissingExtraError, match=r"rustyclaw\[postgres\]"):
        await PostgresStore(TEST_DSN).start()
