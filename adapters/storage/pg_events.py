"""Session events over PostgreSQL LISTEN/NOTIFY (ports/session_events.py), for `gateway.replicas`.

Each bus LISTENs on one dedicated connection and publishes on a second one, so a slow publish never
holds up the notifications being read. An event travels inside the NOTIFY payload when it fits
(NOTIFY refuses payloads of 8000 bytes or more); a larger one (a reply with an image) is written to
`rustyclaw_session_events` and only its id is notified, and a bus fetches the body only when one of
its sockets watches that session. Stored rows older than `keep_seconds` are deleted as new ones are
written, so the table holds only the last minutes.

NOTIFY channels are database-wide while the tables are per schema, so the channel name carries a
digest of the database and schema: two deployments in two schemas of one database never hear each
other. A listening connection that drops is reopened with backoff; events published meanwhile are
lost to this bus (best effort, as the port says). Needs the `postgres` extra.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import TYPE_CHECKING

import anyio
import msgspec
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from rustyclaw.adapters.storage.postgres_schema import is_connection_error, translate_error
from rustyclaw.domain.errors import MissingExtraError, StorageError
from rustyclaw.ports.session_events import SessionEvent

if TYPE_CHECKING:
    import psycopg

    Conn = psycopg.AsyncConnection[tuple[object, ...]]

log = logging.getLogger("rustyclaw.storage.postgres")

# Below NOTIFY's 8000-byte limit with room for the envelope's keys.
INLINE_LIMIT = 7900
KEEP_SECONDS = 300.0
# Events queued per subscription before this bus drops for it (a socket that stopped reading).
BUFFER = 64
_FIRST_BACKOFF = 0.2
_LONGEST_BACKOFF = 5.0

_TABLE = (
    "CREATE TABLE IF NOT EXISTS rustyclaw_session_events (id bigserial PRIMARY KEY, session text NOT NULL, "
    "body text NOT NULL, created_at timestamptz NOT NULL DEFAULT now())"
)


class _Note(msgspec.Struct, omit_defaults=True):
    """The NOTIFY payload: the body inline, or the id of its stored row."""

    s: str
    o: str
    b: str | None = None
    id: int | None = None


_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(_Note).decode


class PostgresSessionEvents:
    def __init__(self, dsn: str, *, keep_seconds: float = KEEP_SECONDS, buffer: int = BUFFER,
                 connect_timeout: float = 10.0) -> None:
        self._dsn = dsn
        self._keep = keep_seconds
        self._buffer = buffer
        self._kwargs: dict[str, object] = {"connect_timeout": max(1, round(connect_timeout))}
        self.channel = ""
        self._subscribers: dict[str, set[MemoryObjectSendStream[SessionEvent]]] = {}
        self._publisher: Conn | None = None
        self._publish_gate = anyio.Lock()
        self._reader: asyncio.Task[None] | None = None
        self._closed = False
        # How many times a LISTEN took effect (1 once started, one more per reopening), for /readyz
        # style reports and for tests that wait for a reopened listener instead of sleeping.
        self.generation = 0
        self._generation_changed = anyio.Event()

    async def _connect(self) -> Conn:
        try:
            import psycopg
        except ImportError as exc:
            raise MissingExtraError("psycopg", "postgres", "session events across replicas") from exc
        try:
            return await psycopg.AsyncConnection.connect(self._dsn, autocommit=True, **self._kwargs)  # type: ignore[arg-type]
        except Exception as exc:
            raise translate_error(exc, "open the session-events connection to", self._dsn) from exc

    async def start(self) -> None:
        if self._reader is not None:
            return
        publisher = await self._connect()
        try:
            cursor = await publisher.execute("SELECT current_database(), current_schema()")
            row = await cursor.fetchone()
            where = "\0".join(str(part) for part in (row or ()))
            self.channel = "rustyclaw_events_" + hashlib.blake2b(where.encode(), digest_size=8).hexdigest()
            await publisher.execute(_TABLE)
            # The first LISTEN is in effect when start returns: a subscription made after it hears
            # every later publish. Reopening after a loss is the reader's job.
            listener = await self._listen()
        except Exception as exc:
            with anyio.CancelScope(shield=True), suppress(Exception):
                await publisher.close()
            raise translate_error(exc, "start session events on", self._dsn) from exc
        self._publisher = publisher
        # psycopg's async connections run on asyncio only, so a plain asyncio task reads the
        # notifications for as long as this bus lives (aclose cancels it).
        self._reader = asyncio.get_running_loop().create_task(self._read(listener))

    async def _listen(self) -> Conn:
        from psycopg import sql

        conn = await self._connect()
        try:
            await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
        except BaseException:
            with anyio.CancelScope(shield=True), suppress(Exception):
                await conn.close()
            raise
        self.generation += 1
        changed, self._generation_changed = self._generation_changed, anyio.Event()
        changed.set()
        return conn

    async def wait_generation(self, at_least: int) -> None:
        """Returns once LISTEN has taken effect `at_least` times."""
        while self.generation < at_least:
            await self._generation_changed.wait()

    async def _read(self, conn: Conn) -> None:
        backoff = _FIRST_BACKOFF
        while not self._closed:
            try:
                async for note in conn.notifies():
                    backoff = _FIRST_BACKOFF
                    await self._deliver(note.payload)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("session-events listener lost (%s); reopening", exc)
            finally:
                with anyio.CancelScope(shield=True), suppress(Exception):
                    await conn.close()
            while not self._closed:
                await asyncio.sleep(backoff)  # a reconnect backoff, not a wait for an event
                backoff = min(backoff * 2, _LONGEST_BACKOFF)
                try:
                    conn = await self._listen()
                    log.info("session-events listener reopened")
                    break
                except Exception as exc:
                    log.warning("session-events listener cannot reopen (%s)", exc)

    async def _deliver(self, payload: str) -> None:
        try:
            note = _decode(payload)
        except msgspec.DecodeError:
            log.warning("session event with an unreadable payload ignored")
            return
        watching = self._subscribers.get(note.s)
        if not watching:
            return  # nobody here watches this session: a stored body is not even fetched
        body = note.b
        if body is None and note.id is not None:
            try:
                body = await self._fetch(note.id)
            except Exception as exc:
                log.warning("session event %d could not be read (%s); dropped", note.id, exc)
                return
        if body is None:
            return
        event = SessionEvent(session=note.s, origin=note.o, body=body)
        for stream in list(watching):
            try:
                stream.send_nowait(event)
            except anyio.WouldBlock:
                log.warning("a subscriber of session %s does not keep up; an event was dropped", note.s)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                watching.discard(stream)

    async def _fetch(self, ident: int) -> str | None:
        cursor = await self._execute("SELECT body FROM rustyclaw_session_events WHERE id = %s", (ident,))
        row = await cursor.fetchone()
        return str(row[0]) if row is not None else None

    async def _execute(self, query: str, params: tuple[object, ...]) -> psycopg.AsyncCursor[tuple[object, ...]]:
        """On the publishing connection, reopened once if it dropped."""
        async with self._publish_gate:
            for attempt in range(2):
                conn = self._publisher
                if conn is None or conn.closed:
                    if self._closed:
                        raise StorageError("session events are closed")
                    conn = self._publisher = await self._connect()
                try:
                    return await conn.execute(query, params)
                except Exception as exc:
                    if attempt == 0 and is_connection_error(exc):
                        self._publisher = None
                        with suppress(Exception):
                            await conn.close()
                        continue
                    raise translate_error(exc, "publish a session event on", self._dsn) from exc
        raise AssertionError("unreachable")

    async def publish(self, event: SessionEvent) -> None:
        inline = _encode(_Note(s=event.session, o=event.origin, b=event.body))
        if len(inline) < INLINE_LIMIT:
            await self._execute("SELECT pg_notify(%s, %s)", (self.channel, inline.decode()))
            return
        # One statement: the old rows go, the new one is stored, and the notification is sent at
        # its commit, so a listener never reads an id whose row is not there yet.
        await self._execute(
            "WITH gone AS (DELETE FROM rustyclaw_session_events WHERE created_at < now() - make_interval(secs => %s)), "
            "stored AS (INSERT INTO rustyclaw_session_events (session, body) VALUES (%s, %s) RETURNING id) "
            "SELECT pg_notify(%s, json_build_object('s', %s::text, 'o', %s::text, 'id', stored.id)::text) FROM stored",
            (self._keep, event.session, event.body, self.channel, event.session, event.origin),
        )

    @asynccontextmanager
    async def subscribe(self, session: str) -> AsyncIterator[MemoryObjectReceiveStream[SessionEvent]]:
        send, receive = anyio.create_memory_object_stream[SessionEvent](self._buffer)
        watching = self._subscribers.setdefault(session, set())
        watching.add(send)
        try:
            async with receive:
                yield receive
        finally:
            watching.discard(send)
            if not watching and self._subscribers.get(session) is watching:
                del self._subscribers[session]
            send.close()

    async def aclose(self) -> None:
        self._closed = True
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.cancel()
            with anyio.CancelScope(shield=True), suppress(asyncio.CancelledError, Exception):
                await reader
        async with self._publish_gate:
            conn, self._publisher = self._publisher, None
            if conn is not None:
                with anyio.CancelScope(shield=True), suppress(Exception):
                    await conn.close()
