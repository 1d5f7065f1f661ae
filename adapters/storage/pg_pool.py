"""One small PostgreSQL connection pool for the shared-state adapters (pairing, rate limits, audit,
cron, plugin storage), so that several gateway replicas on one database share that state.

It is separate from the session store's pool on purpose: the shared-state statements are short
and frequent (a rate-limit check per inbound message) and must not queue behind transcript loads.
`start()` applies the schema migrations itself (under the same advisory lock as the session store),
so it works whichever of the two is started first.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import anyio

from rustyclaw.adapters.storage.pg_open import check_pool_sizes, open_migrated_pool
from rustyclaw.adapters.storage.postgres_schema import (
    describe_dsn,
    is_connection_error,
    translate_error,
)
from rustyclaw.domain.errors import RustyClawError, StorageError

if TYPE_CHECKING:
    import psycopg
    from psycopg_pool import AsyncConnectionPool

    Conn = psycopg.AsyncConnection[tuple[Any, ...]]

T = TypeVar("T")
log = logging.getLogger("rustyclaw.storage.postgres")

Params = Sequence[object] | Mapping[str, object]

_ATTEMPTS = 3
_RETRY_PAUSE = 0.05


class PgPool:
    """An autocommit connection pool with retry on a dropped connection.

    `run(action, work)` gives `work` a pooled connection; if the connection (not the statement)
    fails, `work` runs again on another one, so `work` must be safe to repeat (one statement, or
    one transaction it opens itself). A RustyClawError `work` raises reaches the caller as it is.
    """

    def __init__(self, dsn: str, *, min_size: int = 1, max_size: int = 4, connect_timeout: float = 5.0) -> None:
        check_pool_sizes(min_size, max_size)
        self.dsn = dsn
        self.where = describe_dsn(dsn)
        self._min_size = min_size
        self._max_size = max_size
        self._connect_timeout = connect_timeout
        self._pool: AsyncConnectionPool[Conn] | None = None

    @property
    def started(self) -> bool:
        return self._pool is not None

    async def start(self) -> None:
        if self._pool is not None:
            return
        self._pool, _schema = await open_migrated_pool(
            self.dsn, name="rustyclaw-shared", what="the PostgreSQL shared state",
            min_size=self._min_size, max_size=self._max_size, connect_timeout=self._connect_timeout,
        )

    async def aclose(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            with anyio.CancelScope(shield=True):
                await pool.close()

    async def run(self, action: str, work: Callable[[Conn], Awaitable[T]]) -> T:
        """`work` on a pooled connection, again on another one if the connection drops."""
        pool = self._pool
        if pool is None:
            raise StorageError(f"PostgreSQL shared state on {self.where} is not open (call start() first)")
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                async with pool.connection() as conn:
                    return await work(conn)
            except RustyClawError:
                raise  # the project's own errors (a plugin over its limit, say) pass unchanged
            except Exception as exc:
                if attempt < _ATTEMPTS and is_connection_error(exc):
                    log.warning("%s: connection lost while trying to %s; retrying (%s)", self.where, action, exc)
                    await anyio.sleep(_RETRY_PAUSE * attempt)  # a backoff between reconnects, not a wait for state
                    continue
                raise translate_error(exc, action, self.dsn) from exc
        raise AssertionError("unreachable")

    async def fetch(self, action: str, sql: str, params: Params = ()) -> list[tuple[Any, ...]]:
        """All rows of one statement."""

        async def work(conn: Conn) -> list[tuple[Any, ...]]:
            cursor = await conn.execute(sql, params)
            return await cursor.fetchall() if cursor.description else []

        return await self.run(action, work)

    async def execute(self, action: str, sql: str, params: Params = ()) -> int:
        """One statement; returns its row count."""

        async def work(conn: Conn) -> int:
            cursor = await conn.execute(sql, params)
            return cursor.rowcount

        return await self.run(action, work)
