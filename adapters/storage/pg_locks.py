"""Per-session PostgreSQL advisory locks, all held on one dedicated connection per store.

A connection per running turn would let a hundred busy sessions take a hundred server
connections; instead one connection holds every session-level advisory lock of this process.
It only ever runs `pg_try_advisory_lock` / `pg_advisory_unlock`, never a blocking wait, so one
turn waiting for a lock held elsewhere cannot hold up the others: waiters poll with backoff.
If the connection drops (which releases its locks on the server), it is reopened and the locks
still held here are taken again; one that another process grabbed meanwhile is logged.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import anyio

from rustyclaw.adapters.storage.postgres_schema import is_connection_error, translate_error

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger("rustyclaw.storage.postgres")

_FIRST_WAIT = 0.005
_LONGEST_WAIT = 0.1


def lock_id(namespace: str, key: str) -> int:
    """A signed 64-bit advisory lock id for `key` within `namespace` (the schema)."""
    digest = hashlib.blake2b(f"{namespace}\0{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class AdvisoryLocks:
    """Session-level advisory locks on a connection this object owns."""

    def __init__(self, dsn: str, namespace: str, connect_kwargs: dict[str, object]) -> None:
        self._dsn = dsn
        self._namespace = namespace
        self._kwargs = connect_kwargs
        self._conn: psycopg.AsyncConnection[tuple[object, ...]] | None = None
        self._held: set[int] = set()
        self._gate = anyio.Lock()
        self._closed = False

    async def _connection(self) -> psycopg.AsyncConnection[tuple[object, ...]]:
        conn = self._conn
        if conn is not None and not conn.closed:
            return conn
        import psycopg

        try:
            conn = await psycopg.AsyncConnection.connect(self._dsn, autocommit=True, **self._kwargs)  # type: ignore[arg-type]
        except Exception as exc:
            raise translate_error(exc, "open the turn-lock connection to", self._dsn) from exc
        self._conn = conn
        lost = [held for held in self._held if not await self._try(conn, held)]
        for held in lost:
            log.error("turn lock %d was lost with its connection and is now held by another process", held)
            self._held.discard(held)
        return conn

    @staticmethod
    async def _try(conn: psycopg.AsyncConnection[tuple[object, ...]], ident: int) -> bool:
        cursor = await conn.execute("SELECT pg_try_advisory_lock(%s)", (ident,))
        row = await cursor.fetchone()
        return bool(row and row[0])

    async def _attempt(self, ident: int) -> bool:
        async with self._gate:
            for attempt in range(2):
                conn = await self._connection()
                try:
                    taken = await self._try(conn, ident)
                except Exception as exc:
                    if attempt == 0 and is_connection_error(exc):
                        await self._drop()
                        continue
                    raise translate_error(exc, "take a turn lock on", self._dsn) from exc
                if taken:
                    self._held.add(ident)
                return taken
        return False

    async def _release(self, ident: int) -> None:
        with anyio.CancelScope(shield=True):
            async with self._gate:
                self._held.discard(ident)
                conn = self._conn
                if conn is None or conn.closed:
                    return  # the server released it with the connection
                try:
                    await conn.execute("SELECT pg_advisory_unlock(%s)", (ident,))
                except Exception as exc:
                    if not is_connection_error(exc):
                        raise translate_error(exc, "release a turn lock on", self._dsn) from exc
                    await self._drop()

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with anyio.CancelScope(shield=True):
                try:
                    await conn.close()
                except Exception:
                    log.debug("closing a broken turn-lock connection failed", exc_info=True)

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        ident = lock_id(self._namespace, key)
        wait = _FIRST_WAIT
        while not await self._attempt(ident):
            await anyio.sleep(wait)
            wait = min(wait * 2, _LONGEST_WAIT)
        try:
            yield
        finally:
            await self._release(ident)

    async def aclose(self) -> None:
        async with self._gate:
            self._held.clear()
            await self._drop()
