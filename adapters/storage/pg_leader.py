"""The leader lease in PostgreSQL (ports/leader_lease.py): a row of `leader_leases` (migration 004).

One statement takes or renews the lease: an INSERT that, on a conflict with the existing row, only
updates it when the lease has expired or is already this holder's. Expiry is computed from the
database's clock, never a replica's, so replicas with drifting clocks still agree on it.

The lease has its own connection (autocommit): a renewal must not queue behind turns waiting for
the store's pool. A call that fails or is cancelled midway drops the connection, the next call
opens a new one (a half-read answer must not be mistaken for the next one).
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from typing import TYPE_CHECKING

import anyio

from rustyclaw.adapters.storage.migrations import discover, migrate
from rustyclaw.adapters.storage.postgres_schema import (
    MIGRATION_LOCK_ID,
    PostgresMigrationTarget,
    describe_dsn,
    translate_error,
)
from rustyclaw.domain.errors import MissingExtraError
from rustyclaw.ports.leader_lease import LeaseGrant

if TYPE_CHECKING:
    import psycopg

    Conn = psycopg.AsyncConnection[tuple[object, ...]]

log = logging.getLogger("rustyclaw.leader")

_NOW = "extract(epoch FROM clock_timestamp())::float8"
# The term moves on whenever the lease changes hands, or is taken again after it had expired (the
# holder's duties stopped in between, so that is a new leadership too).
_ACQUIRE = f"""
INSERT INTO leader_leases AS l (name, holder, term, acquired_at, renewed_at, expires_at)
SELECT %(name)s, %(holder)s, 1, now_s, now_s, now_s + %(ttl)s FROM (SELECT {_NOW} AS now_s) AS clock
ON CONFLICT (name) DO UPDATE SET
    holder = excluded.holder,
    term = CASE WHEN l.holder = excluded.holder AND l.expires_at >= excluded.renewed_at
                THEN l.term ELSE l.term + 1 END,
    acquired_at = CASE WHEN l.holder = excluded.holder AND l.expires_at >= excluded.renewed_at
                       THEN l.acquired_at ELSE excluded.acquired_at END,
    renewed_at = excluded.renewed_at,
    expires_at = excluded.expires_at
WHERE l.holder = excluded.holder OR l.expires_at < excluded.renewed_at
RETURNING term
"""
# Expired rather than deleted: the term keeps counting across leaderships.
_RELEASE = f"UPDATE leader_leases SET expires_at = {_NOW} - 1 WHERE name = %s AND holder = %s"


def process_holder() -> str:
    """A holder id unique to this process (host and pid for the logs, a random part for uniqueness)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class PostgresLeaderLease:
    """LeaderLease on one PostgreSQL database (the DSN's schema, like the store)."""

    def __init__(
        self, dsn: str, name: str, ttl_seconds: float, *, holder: str | None = None,
        connect_timeout: float = 5.0,
    ) -> None:
        self._dsn = dsn
        self.name = name
        self.holder = holder or process_holder()
        self.ttl_seconds = ttl_seconds
        self._connect_timeout = connect_timeout
        self._conn: Conn | None = None
        self._gate = anyio.Lock()
        self.where = describe_dsn(dsn)

    async def start(self) -> None:
        """Opens the connection and brings the schema up to date (a no-op after the store did)."""
        conn = await self._connection()
        async with self._gate:
            try:
                await conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_ID,))
                try:
                    await migrate(PostgresMigrationTarget(conn, self._dsn), discover("postgres"), self.where)
                finally:
                    with anyio.CancelScope(shield=True):
                        await conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_ID,))
            except BaseException as exc:
                await self._drop()
                if isinstance(exc, Exception):
                    raise translate_error(exc, "prepare the leader lease in", self._dsn) from exc
                raise

    async def acquire(self) -> LeaseGrant | None:
        params = {"name": self.name, "holder": self.holder, "ttl": self.ttl_seconds}
        rows = await self._execute("renew the leader lease in", _ACQUIRE, params)
        return LeaseGrant(term=int(str(rows[0][0]))) if rows else None

    async def release(self) -> None:
        await self._execute("release the leader lease in", _RELEASE, (self.name, self.holder))

    async def aclose(self) -> None:
        with anyio.CancelScope(shield=True):
            await self._drop()

    async def _execute(
        self, action: str, sql: str, params: dict[str, object] | tuple[object, ...]
    ) -> list[tuple[object, ...]]:
        async with self._gate:
            conn = await self._connection()
            done = False
            try:
                cursor = await conn.execute(sql, params)
                rows = await cursor.fetchall() if cursor.description else []
                done = True
                return rows
            except Exception as exc:
                raise translate_error(exc, action, self._dsn) from exc
            finally:
                if not done:  # an error or a cancellation mid-call: the connection's state is unknown
                    with anyio.CancelScope(shield=True):
                        await self._drop()

    async def _connection(self) -> Conn:
        conn = self._conn
        if conn is not None and not conn.closed:
            return conn
        try:
            import psycopg
        except ImportError as exc:
            raise MissingExtraError("psycopg", "postgres", "the PostgreSQL leader lease") from exc
        try:
            conn = await psycopg.AsyncConnection.connect(
                self._dsn, autocommit=True, connect_timeout=max(1, round(self._connect_timeout)),
                application_name="rustyclaw-leader",  # pg_stat_activity tells it from the store's pool
            )
        except Exception as exc:
            raise translate_error(exc, "open the leader-lease connection to", self._dsn) from exc
        self._conn = conn
        return conn

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.closed:
            try:
                await conn.close()
            except Exception as exc:  # closing a broken link is not worth more than a line
                log.debug("closing the leader-lease connection failed: %s", exc)
