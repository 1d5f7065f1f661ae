"""Opening a migrated PostgreSQL connection pool: what the session store and the shared-state pool
both do at start (one connection migrates the schema under the advisory lock, then the pool opens).

Either may start first on a fresh database, so each migrates; the advisory lock makes the second a
no-op. Needs the `postgres` extra (psycopg[binary,pool]); imported only when a pool is opened.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anyio

from rustyclaw.adapters.storage.migrations import discover, migrate
from rustyclaw.adapters.storage.postgres_schema import (
    MIGRATION_LOCK_ID,
    PostgresMigrationTarget,
    describe_dsn,
    translate_error,
)
from rustyclaw.domain.errors import MissingExtraError, StorageError

if TYPE_CHECKING:
    import psycopg
    from psycopg_pool import AsyncConnectionPool

    Conn = psycopg.AsyncConnection[tuple[Any, ...]]


def check_pool_sizes(min_size: int, max_size: int) -> None:
    if max_size < 1 or min_size < 0 or min_size > max_size:
        raise StorageError(
            "PostgreSQL pool sizes must satisfy 0 <= min_size <= max_size and max_size >= 1; "
            f"got min_size={min_size}, max_size={max_size}"
        )


def connect_kwargs(connect_timeout: float) -> dict[str, Any]:
    """psycopg's connect() keywords (libpq takes whole seconds, at least 1)."""
    return {"connect_timeout": max(1, round(connect_timeout))}


async def open_migrated_pool(
    dsn: str, *, name: str, what: str, min_size: int, max_size: int, connect_timeout: float
) -> tuple[AsyncConnectionPool[Conn], str]:
    """Migrates the schema `dsn` points at, then opens an autocommit pool on it.

    Returns the pool and the connection's current schema (what advisory lock ids are scoped by).
    `what` names the user of the pool in the missing-extra error ("the PostgreSQL session store").
    """
    try:
        import psycopg
        from psycopg_pool import AsyncConnectionPool
    except ImportError as exc:
        raise MissingExtraError("psycopg", "postgres", what) from exc
    kwargs = connect_kwargs(connect_timeout)
    try:
        conn = await psycopg.AsyncConnection.connect(dsn, autocommit=True, prepare_threshold=None, **kwargs)
    except Exception as exc:
        raise translate_error(exc, "connect to", dsn) from exc
    try:
        await conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_ID,))
        try:
            await migrate(PostgresMigrationTarget(conn, dsn), discover("postgres"), describe_dsn(dsn))
        finally:
            with anyio.CancelScope(shield=True):
                await conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_ID,))
        cursor = await conn.execute("SELECT current_schema()")
        row = await cursor.fetchone()
        schema = str(row[0]) if row and row[0] else ""
    except Exception as exc:
        raise translate_error(exc, "prepare", dsn) from exc
    finally:
        with anyio.CancelScope(shield=True):
            await conn.close()
    pool: AsyncConnectionPool[Conn] = AsyncConnectionPool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        kwargs={"autocommit": True, "prepare_threshold": 1, **kwargs},
        open=False,
        name=name,
        timeout=connect_timeout * 2,
    )
    try:
        await pool.open(wait=min_size > 0, timeout=connect_timeout * 2)
    except BaseException as exc:
        with anyio.CancelScope(shield=True):
            await pool.close()
        if isinstance(exc, Exception):
            raise translate_error(exc, "open a connection pool to", dsn) from exc
        raise
    return pool, schema

