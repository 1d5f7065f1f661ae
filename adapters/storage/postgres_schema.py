"""PostgreSQL helpers shared by the store: where a DSN points (without its secret), error
translation, and the migration target for `rustyclaw.migrations/postgres/*.sql`.
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING

from rustyclaw.adapters.storage.migrations import SCHEMA_VERSION_DDL, Migration
from rustyclaw.domain.errors import CorruptDataError, StorageError, StorageUnavailableError

if TYPE_CHECKING:
    import psycopg

# Held while migrating so that two gateways starting on one database apply each file once
# (even CREATE TABLE IF NOT EXISTS races on the catalog otherwise). Arbitrary, fixed.
MIGRATION_LOCK_ID = 0x52_75_73_74_79_43_6C_61  # "RustyCla"

_PASSWORD_IN_TEXT = re.compile(r"(password\s*=\s*)(\S+)|(://[^:/@\s]+:)([^@\s]+)(@)", re.IGNORECASE)


def describe_dsn(dsn: str) -> str:
    """`host:port/dbname` (and the user) of a DSN, never its password."""
    try:
        from psycopg.conninfo import conninfo_to_dict

        parts = conninfo_to_dict(dsn)
    except Exception:
        return "PostgreSQL (unparsable DSN)"
    host = str(parts.get("host") or parts.get("hostaddr") or "localhost")
    port = str(parts.get("port") or "5432")
    where = f"{host}:{port}/{parts.get('dbname') or parts.get('user') or ''}"
    if parts.get("user"):
        where = f"{parts['user']}@{where}"
    return f"PostgreSQL {where}"


def scrub(text: str, dsn: str) -> str:
    """`text` with any password (from the DSN or looking like one) replaced by ***."""
    try:
        from psycopg.conninfo import conninfo_to_dict

        password = conninfo_to_dict(dsn).get("password")
    except Exception:
        password = None
    if password:
        text = text.replace(str(password), "***")
    return _PASSWORD_IN_TEXT.sub(lambda m: f"{m.group(1)}***" if m.group(1) else f"{m.group(3)}***@", text)


def is_connection_error(exc: BaseException) -> bool:
    """True when the connection (not the statement) failed, so the same work may be retried."""
    import psycopg

    if isinstance(exc, psycopg.OperationalError):
        # Server-side errors that are not about the link (a statement timeout, say) have a
        # SQLSTATE outside class 08 (connection exception) and 57P (operator intervention).
        state = getattr(exc, "sqlstate", None)
        return state is None or state.startswith(("08", "57P"))
    return isinstance(exc, psycopg.InterfaceError)


def translate_error(exc: BaseException, action: str, dsn: str) -> StorageError:
    """The project error for a psycopg/pool exception raised while doing `action`."""
    if isinstance(exc, StorageError):
        return exc
    import psycopg

    where = describe_dsn(dsn)
    detail = scrub(str(exc).strip() or type(exc).__name__, dsn)
    if is_connection_error(exc) or type(exc).__name__ == "PoolTimeout":
        return StorageUnavailableError(f"cannot {action} {where}: {detail}")
    if isinstance(exc, psycopg.errors.DataCorrupted | psycopg.errors.IndexCorrupted):
        return CorruptDataError(f"cannot {action} {where}: {detail}")
    return StorageError(f"cannot {action} {where}: {detail}")


class PostgresMigrationTarget:
    """`MigrationTarget` over an autocommit psycopg connection.

    The caller holds the advisory migration lock for the whole run; each migration and its
    version row still go in one transaction, and the version is re-read inside it.
    """

    def __init__(self, conn: psycopg.AsyncConnection[tuple[object, ...]], dsn: str) -> None:
        self._conn = conn
        self._dsn = dsn

    async def current_version(self) -> int:
        try:
            await self._conn.execute(SCHEMA_VERSION_DDL, prepare=False)
            return await self._version()
        except Exception as exc:
            raise translate_error(exc, "read the schema version of", self._dsn) from exc

    async def _version(self) -> int:
        cursor = await self._conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version", prepare=False)
        row = await cursor.fetchone()
        return int(row[0]) if row is not None else 0  # type: ignore[call-overload]

    async def apply(self, migration: Migration) -> bool:
        try:
            async with self._conn.transaction():
                if await self._version() >= migration.version:
                    return False
                await self._conn.execute(migration.sql.encode(), prepare=False)
                await self._conn.execute(
                    "INSERT INTO schema_version (version, name, applied_at) VALUES (%s, %s, %s)",
                    (migration.version, migration.name, time.time()),
                    prepare=False,
                )
        except Exception as exc:
            raise translate_error(exc, f"apply migration {migration.label} to", self._dsn) from exc
        return True
