"""Per-session PostgreSQL advisory locks, all held on one dedicated connection per store.

A connection per running turn would let a hundred busy sessions take a hundred server
connections; instead one connection holds every session-level advisory lock of this process.
It only ever runs `pg_try_advisory_lock` / `pg_advisory_unlock`, never a blocking wait, so one
turn waiting for a lock held elsewhere cannot hold up the others.
If the connection drops (which releases its locks on the server), it is reopened and the locks
still held here are taken again; one that another process grabbed meanwhile is logged.

Waiting (gateway replicas on one database): a release sends `NOTIFY rustyclaw_turn_unlock` with
the lock id in the same statement as the unlock. A store whose lock is taken elsewhere opens a
second connection that LISTENs, and its waiters sleep until a notification for their id arrives,
then try again. A holder can also vanish without a word (its connection dropped, the server
released its locks), so a waiter also tries again after at most `FALLBACK_WAIT` seconds; if
the listening connection is lost, waiters go back to trying with backoff until it is reopened.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import TYPE_CHECKING, Literal

import anyio

from rustyclaw.adapters.storage.postgres_schema import is_connection_error, translate_error

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger("rustyclaw.storage.postgres")

_FIRST_WAIT = 0.005
_LONGEST_WAIT = 0.1
# With the listener up, a waiter wakes on a notification; this only bounds the wait for a holder
# that disappeared without notifying (its connection dropped).
FALLBACK_WAIT = 2.0
CHANNEL = "rustyclaw_turn_unlock"


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
        # Waiting for releases: one LISTEN connection, read by one task, waking per-id events.
        self._waiting: dict[int, set[anyio.Event]] = {}
        self._listen_gate = anyio.Lock()
        self._listener: psycopg.AsyncConnection[tuple[object, ...]] | None = None
        self._reader: asyncio.Task[None] | None = None

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
                    # One statement: the notification is sent when the unlock is committed.
                    await conn.execute("SELECT pg_advisory_unlock(%s), pg_notify(%s, %s)", (ident, CHANNEL, str(ident)))
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
        while True:
            # The event is registered before the attempt: a release that lands between a failed
            # attempt and the wait below still wakes it (the listener, once up, always listens).
            released = anyio.Event()
            waiters = self._waiting.setdefault(ident, set())
            waiters.add(released)
            try:
                if await self._attempt(ident):
                    break
                listener = await self._listening()
                if listener == "up":
                    with anyio.move_on_after(FALLBACK_WAIT):
                        await released.wait()
                elif listener == "unavailable":  # it failed to open: try again with backoff
                    await anyio.sleep(wait)
                    wait = min(wait * 2, _LONGEST_WAIT)
                # "opened": try again at once, in case the release came before the LISTEN took effect
            finally:
                waiters.discard(released)
                if not waiters and self._waiting.get(ident) is waiters:
                    del self._waiting[ident]  # nothing is kept for keys nobody waits for
        try:
            yield
        finally:
            await self._release(ident)

    async def _listening(self) -> Literal["up", "opened", "unavailable"]:
        """Opens the LISTEN connection and its reader if needed: "up" when it already listened,
        "opened" when this call opened it, "unavailable" when it cannot be opened."""
        if self._reader is not None and not self._reader.done():
            return "up"
        async with self._listen_gate:
            if self._reader is not None and not self._reader.done():
                return "up"
            if self._closed:
                return "unavailable"
            import psycopg

            try:
                conn = await psycopg.AsyncConnection.connect(self._dsn, autocommit=True, **self._kwargs)  # type: ignore[arg-type]
                await conn.execute(f"LISTEN {CHANNEL}")
            except Exception as exc:
                log.warning("turn-lock waiters fall back to polling: cannot LISTEN on %s (%s)", CHANNEL, exc)
                return "unavailable"
            self._listener = conn
            # psycopg's async connections run on asyncio only, so a plain asyncio task reads the
            # notifications; it lives as long as this object (aclose cancels it) and owns no
            # resource that a caller's task group would have to wait for.
            self._reader = asyncio.get_running_loop().create_task(self._read(conn))
            self._wake_all()  # other waiters too may have missed a release before the LISTEN
            return "opened"

    async def _read(self, conn: psycopg.AsyncConnection[tuple[object, ...]]) -> None:
        try:
            async for note in conn.notifies():
                try:
                    ident = int(note.payload)
                except ValueError:
                    continue
                for event in self._waiting.pop(ident, ()):
                    event.set()
        except Exception as exc:  # the connection dropped: waiters poll until it is reopened
            if not self._closed:
                log.warning("turn-lock listener connection lost (%s); reopening on the next wait", exc)
        finally:
            self._wake_all()
            with suppress(Exception):
                await conn.close()

    def _wake_all(self) -> None:
        waiting, self._waiting = self._waiting, {}
        for events in waiting.values():
            for event in events:
                event.set()

    async def aclose(self) -> None:
        self._closed = True
        reader, self._reader = self._reader, None
        listener, self._listener = self._listener, None
        if reader is not None:
            reader.cancel()
            with anyio.CancelScope(shield=True), suppress(asyncio.CancelledError, Exception):
                await reader
        if listener is not None and not listener.closed:
            with anyio.CancelScope(shield=True), suppress(Exception):
                await listener.close()
        async with self._gate:
            self._held.clear()
            await self._drop()
