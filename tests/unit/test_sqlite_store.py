"""What the contract suite cannot see of the SQLite store: schema, pragmas, errors, batching."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from rustyclaw.adapters.storage.sqlite import _MESSAGE_COLUMNS, SQLiteStore
from rustyclaw.domain.errors import CorruptDataError, StorageError, StorageUnavailableError
from rustyclaw.domain.messages import ChatMessage, SessionEntry

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "rustyclaw.db"


@pytest.fixture
async def store(db_path: Path) -> AsyncIterator[SQLiteStore]:
    opened = SQLiteStore(db_path)
    await opened.start()
    try:
        yield opened
    finally:
        await opened.aclose()


def query(path: Path, sql: str) -> list[tuple[object, ...]]:
    connection = sqlite3.connect(path)
    try:
        return connection.execute(sql).fetchall()
    finally:
        connection.close()


def entry(key: str = "agent:main:main", session_id: str = "s-1") -> SessionEntry:
    return SessionEntry(key=key, session_id=session_id, created_at=1.0, updated_at=1.0)


async def test_every_value_field_has_a_column(store: SQLiteStore, db_path: Path) -> None:
    session_columns = {str(row[1]) for row in query(db_path, "PRAGMA table_info(sessions)")}
    message_columns = {str(row[1]) for row in query(db_path, "PRAGMA table_info(messages)")}
    missing_session = set(SessionEntry.__struct_fields__) - session_columns
    missing_message = set(ChatMessage.__struct_fields__) - message_columns
    assert not missing_session, f"add a migration with columns {missing_session} to sessions"
    assert not missing_message, f"add a migration with columns {missing_message} to messages"
    unmapped = set(ChatMessage.__struct_fields__) - set(_MESSAGE_COLUMNS)
    assert not unmapped, f"add {unmapped} to _MESSAGE_COLUMNS, _message() and _message_params() in sqlite.py"


async def test_the_connection_uses_wal_normal_sync_and_foreign_keys(
    store: SQLiteStore, db_path: Path
) -> None:
    assert query(db_path, "PRAGMA journal_mode") == [("wal",)]
    db = store._open_db()
    assert list(await db.execute_fetchall("PRAGMA synchronous", ())) == [(1,)]  # NORMAL
    assert list(await db.execute_fetchall("PRAGMA foreign_keys", ())) == [(1,)]
    assert list(await db.execute_fetchall("PRAGMA busy_timeout", ())) == [(5000,)]


async def test_full_sync_can_be_chosen(db_path: Path) -> None:
    store = SQLiteStore(db_path, synchronous="FULL")
    await store.start()
    try:
        assert list(await store._open_db().execute_fetchall("PRAGMA synchronous", ())) == [(2,)]
    finally:
        await store.aclose()


def test_an_unknown_sync_mode_is_refused(db_path: Path) -> None:
    with pytest.raises(StorageError, match="OFF"):
        SQLiteStore(db_path, synchronous="OFF")  # type: ignore[arg-type]


async def test_reset_marks_the_old_transcript_archived(store: SQLiteStore, db_path: Path) -> None:
    await store.put_session(entry())
    await store.reset_session("agent:main:main", "s-2", 50.0)
    rows = query(db_path, "SELECT session_id, session_key, archived_at FROM transcripts ORDER BY created_at")
    assert rows == [("s-1", "agent:main:main", 50.0), ("s-2", "agent:main:main", None)]


async def test_a_large_batch_is_stored_whole_and_in_order(store: SQLiteStore) -> None:
    e = entry()
    await store.append_messages(e, [ChatMessage(role="user", content="earlier", inbound_id="in-7")])
    batch = [ChatMessage(role="user", content=str(i), inbound_id=f"in-{i % 200}") for i in range(250)]
    stored = await store.append_messages(e, batch)
    expected = [str(i) for i in range(200) if i != 7]
    assert [m.content for m in stored] == expected
    assert [m.content for m in await store.load_messages(e)] == ["earlier", *expected]


async def test_a_failing_large_batch_stores_nothing(store: SQLiteStore) -> None:
    e = entry()
    batch = [ChatMessage(role="user", content=str(i)) for i in range(150)]
    batch[120] = ChatMessage(role="user", content="too big", tokens=2**70)
    with pytest.raises(StorageError, match="append messages"):
        await store.append_messages(e, batch)
    assert await store.load_messages(e) == []


async def test_append_and_put_stores_both_or_neither(store: SQLiteStore) -> None:
    """The end of a turn (ports/session_store.py TurnTailStore): messages and row in one transaction."""
    e = entry()
    await store.put_session(e)
    await store.append_messages(e, [ChatMessage(role="user", content="hi", inbound_id="tg:1")])
    e.updated_at, e.total_tokens = 5.0, 12
    stored = await store.append_and_put(
        e, [ChatMessage(role="user", content="again", inbound_id="tg:1"), ChatMessage(role="assistant", content="ok")])
    assert [m.content for m in stored] == ["ok"]  # a known inbound id is skipped, as by append_messages
    assert [m.content for m in await store.load_messages(e)] == ["hi", "ok"]
    assert await store.get_session(e.key) == e
    e.updated_at = 9.0
    with pytest.raises(StorageError, match="append messages"):
        await store.append_and_put(e, [ChatMessage(role="assistant", content="too big", tokens=2**70)])
    assert [m.content for m in await store.load_messages(e)] == ["hi", "ok"]
    stale = await store.get_session(e.key)
    assert stale is not None and stale.updated_at == 5.0
    # Over one INSERT's worth of rows it is the two calls (still durable and ordered).
    batch = [ChatMessage(role="assistant", content=str(i)) for i in range(120)]
    assert len(await store.append_and_put(e, batch)) == 120
    assert len(await store.load_messages(e)) == 122


async def test_get_session_seen_is_get_session_and_has_inbound(store: SQLiteStore) -> None:
    assert await store.get_session_seen("agent:main:main", "tg:1") == (None, False)
    e, other = entry(), entry("agent:main:other", "s-other")
    await store.put_session(e)
    await store.put_session(other)
    await store.append_messages(e, [ChatMessage(role="user", content="hi", inbound_id="tg:1")])
    assert await store.get_session_seen(e.key, "tg:1") == (e, True)
    assert await store.get_session_seen(e.key, "tg:2") == (e, False)
    assert await store.get_session_seen(other.key, "tg:1") == (other, False)  # ids are per session
    fresh = await store.reset_session(e.key, "s-2", 3.0)
    assert await store.get_session_seen(e.key, "tg:1") == (fresh, False)  # the archived transcript is not asked


async def test_other_writes_survive_a_rolled_back_transaction(store: SQLiteStore) -> None:
    """Statements sent while a reset's transaction is open must not be rolled back with it."""
    sessions = [entry(f"agent:main:{n}", f"s-{n}") for n in range(10)]

    async def append(e: SessionEntry) -> None:
        for i in range(30):
            await store.append_messages(e, [ChatMessage(role="user", content=str(i))])

    async def failing_resets() -> None:
        for _ in range(30):
            with pytest.raises(StorageError, match="not in"):
                await store.reset_session("agent:main:ghost", "s-x", 1.0)

    async with anyio.create_task_group() as tg:
        for e in sessions:
            tg.start_soon(append, e)
        tg.start_soon(failing_resets)
    for e in sessions:
        assert [m.content for m in await store.load_messages(e)] == [str(i) for i in range(30)]


async def test_unreadable_stored_json_is_reported_as_corrupt(store: SQLiteStore, db_path: Path) -> None:
    e = entry()
    await store.append_messages(e, [ChatMessage(role="user", content="x", meta={"a": 1})])
    connection = sqlite3.connect(db_path)
    with connection:
        connection.execute("UPDATE messages SET meta = '{broken'")
    connection.close()
    with pytest.raises(CorruptDataError, match="'s-1'"):
        await store.load_messages(e)


async def test_meta_that_is_not_json_is_refused(store: SQLiteStore) -> None:
    with pytest.raises(StorageError, match="meta"):
        await store.append_messages(entry(), [ChatMessage(role="user", meta={"x": object()})])


async def test_a_folder_in_place_of_the_file_is_unavailable(tmp_path: Path) -> None:
    (tmp_path / "dir.db").mkdir()
    store = SQLiteStore(tmp_path / "dir.db")
    with pytest.raises(StorageUnavailableError, match=str(tmp_path / "dir.db")):
        await store.start()


async def test_a_file_that_is_not_a_database_is_corrupt_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    garbage = b"this is not an SQLite database, just some text " * 100
    path.write_bytes(garbage)
    store = SQLiteStore(path)
    with pytest.raises(CorruptDataError, match=str(path)):
        await store.start()
    assert path.read_bytes() == garbage


async def test_in_memory_database_and_repeated_start() -> None:
    store = SQLiteStore(":memory:")
    await store.start()
    await store.start()
    try:
        await store.put_session(entry())
        assert await store.get_session("agent:main:main") == entry()
    finally:
        await store.aclose()
