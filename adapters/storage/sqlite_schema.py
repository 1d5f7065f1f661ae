"""SQLite helpers shared by the store and its migrations: error translation, script splitting,
and the migration target that runs `rustyclaw.migrations/sqlite/*.sql` on an aiosqlite connection.
"""

from __future__ import annotations

import contextlib
import time
from typing import TYPE_CHECKING

import anyio

from rustyclaw.adapters.storage.migrations import SCHEMA_VERSION_DDL, Migration
from rustyclaw.domain.errors import CorruptDataError, StorageError, StorageUnavailableError

if TYPE_CHECKING:
    import aiosqlite

# Primary result codes (https://sqlite.org/rescode.html) that mean "cannot reach or write the
# file" rather than "the request was wrong".
_UNAVAILABLE = {
    3: "permission denied",  # SQLITE_PERM
    5: "the database is locked by another connection",  # SQLITE_BUSY
    6: "a table is locked",  # SQLITE_LOCKED
    8: "the database is read-only",  # SQLITE_READONLY
    10: "disk I/O error",  # SQLITE_IOERR
    13: "the disk is full",  # SQLITE_FULL
    14: "the file cannot be opened",  # SQLITE_CANTOPEN
    15: "locking protocol error",  # SQLITE_PROTOCOL
}
_CORRUPT = {11, 26}  # SQLITE_CORRUPT, SQLITE_NOTADB


def translate_error(exc: BaseException, action: str, where: str) -> StorageError:
    """The project error for an sqlite3/aiosqlite exception raised while doing `action`."""
    import sqlite3

    if isinstance(exc, StorageError):
        return exc
    prefix = f"cannot {action} SQLite database {where}"
    if isinstance(exc, sqlite3.Error):
        code = getattr(exc, "sqlite_errorcode", None)
        primary = code & 0xFF if isinstance(code, int) else None
        if primary in _CORRUPT:
            return CorruptDataError(f"{prefix}: {exc} (the file was left untouched)")
        if primary in _UNAVAILABLE:
            return StorageUnavailableError(f"{prefix}: {exc} ({_UNAVAILABLE[primary]})")
        return StorageError(f"{prefix}: {exc}")
    if isinstance(exc, ValueError) and "connection" in str(exc).lower():
        # aiosqlite's wording for a connection that was closed under a pending call.
        return StorageError(f"{prefix}: the store was closed")
    return StorageError(f"{prefix}: {type(exc).__name__}: {exc}")


def _has_code(chunk: str) -> bool:
    return any(line.strip() and not line.strip().startswith("--") for line in chunk.splitlines())


def split_statements(script: str) -> list[str]:
    """A migration script cut into single statements (trigger bodies and quoted `;` stay whole).

    sqlite3's executescript() commits any open transaction first, so a migration and its
    version record could not share one transaction with it; statements are run one by one.
    """
    import sqlite3

    statements: list[str] = []
    start = 0
    for index, char in enumerate(script):
        if char == ";" and sqlite3.complete_statement(script[start : index + 1]):
            chunk = script[start : index + 1]
            start = index + 1
            if _has_code(chunk):
                statements.append(chunk.strip())
    if _has_code(script[start:]):
        raise StorageError(f"migration script ends with an incomplete statement: {script[start:].strip()!r}")
    return statements


class SQLiteMigrationTarget:
    """`MigrationTarget` over an aiosqlite connection opened with isolation_level=None.

    Each migration runs in BEGIN IMMEDIATE, which takes the database's write lock before the
    version is re-read, so two processes starting on one file apply each migration once.
    """

    def __init__(self, db: aiosqlite.Connection, where: str) -> None:
        self._db = db
        self._where = where

    async def current_version(self) -> int:
        try:
            await self._db.execute_fetchall(SCHEMA_VERSION_DDL, ())
            return await self._version()
        except Exception as exc:
            raise translate_error(exc, "read the schema version of", self._where) from exc

    async def _version(self) -> int:
        sql = "SELECT COALESCE(MAX(version), 0) FROM schema_version"
        rows = list(await self._db.execute_fetchall(sql, ()))
        return int(rows[0][0])

    async def apply(self, migration: Migration) -> bool:
        db = self._db
        # Shielded so that a cancelled start() cannot leave the write transaction open.
        with anyio.CancelScope(shield=True):
            try:
                await db.execute("BEGIN IMMEDIATE")
                try:
                    if await self._version() >= migration.version:
                        await db.execute("ROLLBACK")
                        return False
                    for statement in split_statements(migration.sql):
                        await db.execute(statement)
                    await db.execute(
                        "INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)",
                        (migration.version, migration.name, time.time()),
                    )
                    await db.execute("COMMIT")
                except BaseException:
                    await rollback_quietly(db)
                    raise
            except Exception as exc:
                raise translate_error(exc, f"apply migration {migration.label} to", self._where) from exc
        return True


async def rollback_quietly(db: aiosqlite.Connection) -> None:
    """Roll back if a transaction is still open; the error that got us here is the one to report."""
    import sqlite3

    with contextlib.suppress(sqlite3.Error, ValueError):
        await db.execute("ROLLBACK")
