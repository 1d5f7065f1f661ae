"""The migration runner on a real SQLite database: discovery, ordering, recording, refusal."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import aiosqlite
import anyio
import pytest

from rustyclaw.adapters.storage.migrations import Migration, check_not_newer, discover, migrate
from rustyclaw.adapters.storage.sqlite import SQLiteStore
from rustyclaw.adapters.storage.sqlite_schema import SQLiteMigrationTarget, split_statements
from rustyclaw.domain.errors import SchemaVersionError, StorageError

pytestmark = pytest.mark.anyio

FIRST = Migration(1, "people", "CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT NOT NULL);")
SECOND = Migration(
    2,
    "pets",
    """
    -- a comment; with a semicolon
    CREATE TABLE pets (id INTEGER PRIMARY KEY, owner INTEGER REFERENCES people (id), name TEXT);
    CREATE TRIGGER pets_named AFTER INSERT ON pets WHEN NEW.name IS NULL
    BEGIN
        UPDATE pets SET name = 'unnamed; really' WHERE id = NEW.id;
    END;
    INSERT INTO people (name) VALUES ('semi;colon');
    """,
)
THIRD = Migration(3, "toys", "CREATE TABLE toys (id INTEGER PRIMARY KEY);")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[aiosqlite.Connection]:
    async with aiosqlite.connect(tmp_path / "m.db", isolation_level=None) as connection:
        yield connection


def recorded(path: Path) -> list[tuple[int, str]]:
    with sqlite3.connect(path) as connection:
        rows = connection.execute("SELECT version, name FROM schema_version ORDER BY version").fetchall()
    connection.close()
    return [(int(v), str(n)) for v, n in rows]


def tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as connection:
        rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    connection.close()
    return {str(name) for (name,) in rows}


async def test_pending_migrations_are_applied_once_in_order_and_recorded(
    db: aiosqlite.Connection, tmp_path: Path
) -> None:
    target = SQLiteMigrationTarget(db, "m.db")
    # Given out of order: the runner sorts by version.
    applied = await migrate(target, [SECOND, FIRST], "m.db")
    assert [m.version for m in applied] == [1, 2]
    assert recorded(tmp_path / "m.db") == [(1, "people"), (2, "pets")]
    assert {"people", "pets", "schema_version"} <= tables(tmp_path / "m.db")

    assert await migrate(target, [FIRST, SECOND], "m.db") == []
    applied = await migrate(target, [FIRST, SECOND, THIRD], "m.db")
    assert applied == [THIRD]
    assert await target.current_version() == 3
    # Each migration's statements ran exactly once.
    rows = list(await db.execute_fetchall("SELECT name FROM people", ()))
    assert rows == [("semi;colon",)]


async def test_the_trigger_in_a_migration_stays_whole(db: aiosqlite.Connection) -> None:
    await migrate(SQLiteMigrationTarget(db, "m.db"), [FIRST, SECOND], "m.db")
    await db.execute("INSERT INTO pets (owner) VALUES (1)")
    assert list(await db.execute_fetchall("SELECT name FROM pets", ())) == [("unnamed; really",)]


async def test_a_newer_database_is_refused_with_the_upgrade_message(
    db: aiosqlite.Connection, tmp_path: Path
) -> None:
    target = SQLiteMigrationTarget(db, "m.db")
    await migrate(target, [FIRST, SECOND, THIRD], "m.db")
    with pytest.raises(SchemaVersionError) as caught:
        await migrate(target, [FIRST, SECOND], "/data/m.db")
    assert str(caught.value) == (
        "database /data/m.db is at schema version 3, this RustyClaw knows up to 2; upgrade RustyClaw"
    )
    assert recorded(tmp_path / "m.db") == [(1, "people"), (2, "pets"), (3, "toys")]


def test_check_not_newer_without_known_migrations() -> None:
    check_not_newer(0, [], "x")
    with pytest.raises(SchemaVersionError, match="at schema version 1, this RustyClaw knows up to 0"):
        check_not_newer(1, [], "x")


async def test_a_failing_migration_rolls_back_and_keeps_the_old_version(
    db: aiosqlite.Connection, tmp_path: Path
) -> None:
    target = SQLiteMigrationTarget(db, "m.db")
    await migrate(target, [FIRST], "m.db")
    broken = Migration(2, "broken", "CREATE TABLE half (id INTEGER);\nCREATE TABLE oops (;")
    with pytest.raises(StorageError, match="002_broken") as caught:
        await migrate(target, [FIRST, broken], "m.db")
    assert not isinstance(caught.value, SchemaVersionError)
    assert "half" not in tables(tmp_path / "m.db")
    assert recorded(tmp_path / "m.db") == [(1, "people")]
    assert not db.in_transaction
    # The fixed migration applies afterwards.
    assert await migrate(target, [FIRST, SECOND], "m.db") == [SECOND]


async def test_two_processes_starting_together_apply_each_migration_once(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    results: list[list[Migration]] = []

    async def start_one() -> None:
        async with aiosqlite.connect(path, isolation_level=None) as connection:
            await connection.execute("PRAGMA busy_timeout = 5000")
            results.append(await migrate(SQLiteMigrationTarget(connection, str(path)), [FIRST, SECOND], "x"))

    async with anyio.create_task_group() as tg:
        for _ in range(3):
            tg.start_soon(start_one)
    assert sorted(m.version for applied in results for m in applied) == [1, 2]
    assert recorded(path) == [(1, "people"), (2, "pets")]


def test_discover_finds_the_shipped_sqlite_migrations() -> None:
    shipped = discover("sqlite")
    assert shipped[0].version == 1
    assert shipped[0].name == "init"
    assert [m.version for m in shipped] == list(range(1, len(shipped) + 1))
    assert "CREATE TABLE messages" in shipped[0].sql


def test_discover_reads_a_folder_in_version_order(tmp_path: Path) -> None:
    (tmp_path / "010_later.sql").write_text("SELECT 10;")
    (tmp_path / "002_second.sql").write_text("SELECT 2;")
    (tmp_path / "001_first.sql").write_text("SELECT 1;")
    (tmp_path / "README.md").write_text("not a migration")
    found = discover("test", root=tmp_path)
    assert [(m.version, m.name, m.sql) for m in found] == [
        (1, "first", "SELECT 1;"),
        (2, "second", "SELECT 2;"),
        (10, "later", "SELECT 10;"),
    ]
    assert found[2].label == "010_later"


@pytest.mark.parametrize("bad", ["1_short.sql", "002-dash.sql", "003_Upper.sql"])
def test_discover_refuses_badly_named_files(tmp_path: Path, bad: str) -> None:
    (tmp_path / bad).write_text("SELECT 1;")
    with pytest.raises(StorageError, match="NNN_lowercase_name"):
        discover("test", root=tmp_path)


def test_discover_refuses_two_files_with_one_version(tmp_path: Path) -> None:
    (tmp_path / "001_a.sql").write_text("SELECT 1;")
    (tmp_path / "001_b.sql").write_text("SELECT 1;")
    with pytest.raises(StorageError, match="share version 1"):
        discover("test", root=tmp_path)


def test_discover_of_an_unknown_backend_names_it() -> None:
    with pytest.raises(StorageError, match="'nosuchdb'"):
        discover("nosuchdb")


def test_split_statements_refuses_an_unfinished_statement() -> None:
    assert split_statements("SELECT 1; -- trailing comment\n") == ["SELECT 1;"]
    with pytest.raises(StorageError, match="incomplete statement"):
        split_statements("SELECT 1; SELECT 2")


async def test_sqlite_store_refuses_a_newer_database(tmp_path: Path) -> None:
    path = tmp_path / "state" / "rustyclaw.db"
    store = SQLiteStore(path)
    await store.start()
    await store.aclose()
    with sqlite3.connect(path) as connection:
        connection.execute("INSERT INTO schema_version (version, name, applied_at) VALUES (999, 'future', 0)")
    connection.close()
    newer = SQLiteStore(path)
    with pytest.raises(SchemaVersionError) as caught:
        await newer.start()
    known = discover("sqlite")[-1].version
    assert str(caught.value) == (
        f"database {path} is at schema version 999, this RustyClaw knows up to {known}; upgrade RustyClaw"
    )
    with pytest.raises(StorageError, match="not open"):
        await newer.get_session("agent:main:main")
