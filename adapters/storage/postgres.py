"""PostgreSQL session store: psycopg 3 async, a connection pool, prepared statements, advisory
turn locks. Needs the `postgres` extra (psycopg[binary,pool])."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import anyio

from rustyclaw.adapters.storage.codec import (
    SESSION_COLUMNS,
    message_from_row,
    message_row,
    session_from_row,
    session_row,
)
from rustyclaw.adapters.storage.locks import KeyedLocks
from rustyclaw.adapters.storage.pg_locks import AdvisoryLocks, lock_id
from rustyclaw.adapters.storage.pg_open import check_pool_sizes, connect_kwargs, open_migrated_pool
from rustyclaw.adapters.storage.postgres_schema import (
    describe_dsn,
    is_connection_error,
    translate_error,
)
from rustyclaw.adapters.storage.rules import entry_after_reset, import_batch, prepare_batch
from rustyclaw.domain.errors import StorageError
from rustyclaw.domain.messages import ChatMessage, SessionEntry
from rustyclaw.ports.archive import ArchivedTranscript
from rustyclaw.ports.storage import StorageBackend

if TYPE_CHECKING:
    import psycopg
    from psycopg_pool import AsyncConnectionPool

    Conn = psycopg.AsyncConnection[tuple[Any, ...]]

T = TypeVar("T")
log = logging.getLogger("rustyclaw.storage.postgres")

_MESSAGE_COLUMNS = (
    "role", "content", "tool_calls", "tool_call_id", "name",
    "id", "created_at", "tokens", "inbound_id", "meta",
)  # fmt: skip
_MESSAGE_TYPES = ("text", "text", "text", "text", "text", "text", "float8", "int4", "text", "text")

_SELECT_SESSIONS = f"SELECT {', '.join(SESSION_COLUMNS)} FROM sessions"
_UPSERT_SESSION = (
    f"INSERT INTO sessions ({', '.join(SESSION_COLUMNS)}) "
    f"VALUES ({', '.join('%s' for _ in SESSION_COLUMNS)}) "
    "ON CONFLICT (key) DO UPDATE SET "
    + ", ".join(f"{column} = excluded.{column}" for column in SESSION_COLUMNS if column != "key")
)
_SELECT_MESSAGES = f"SELECT {', '.join(_MESSAGE_COLUMNS)} FROM messages WHERE session_id = %s ORDER BY seq"
_HAS_INBOUND = "SELECT 1 FROM messages WHERE session_id = %s AND inbound_id = %s LIMIT 1"
# One statement text for every batch size (so one prepared statement): the batch travels as one
# array per column. Rows go in in array order, so seq follows the batch. A conflict on either
# unique index (message id: a retried append; inbound id: a repeated delivery) skips the row.
_INSERT_MESSAGES = (
    f"INSERT INTO messages (session_id, {', '.join(_MESSAGE_COLUMNS)}) "
    f"SELECT %s, {', '.join(_MESSAGE_COLUMNS)} FROM unnest("
    + ", ".join(f"%s::{kind}[]" for kind in _MESSAGE_TYPES)
    + f") WITH ORDINALITY AS batch ({', '.join(_MESSAGE_COLUMNS)}, ord) ORDER BY ord "
    "ON CONFLICT DO NOTHING RETURNING id"
)
_STORED_IDS = "SELECT id FROM messages WHERE session_id = %s AND id = ANY(%s::text[])"
# Archived transcripts that hold messages (a reset of an empty session leaves nothing to keep).
_SELECT_ARCHIVED = (
    "SELECT session_key, session_id, agent_id, archived_at, created_at FROM transcripts AS t "
    "WHERE archived_at IS NOT NULL AND EXISTS (SELECT 1 FROM messages AS m WHERE m.session_id = t.session_id)"
)
_ARCHIVED_ORDER = " ORDER BY session_key, archived_at, session_id"
_REGISTER_ARCHIVED = (
    "INSERT INTO transcripts (session_id, session_key, agent_id, created_at, archived_at) "
    "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (session_id) DO NOTHING"
)
# FOR UPDATE: two imports of one archive take turns, so neither sees the other half done.
_TRANSCRIPT_STATE = "SELECT archived_at FROM transcripts WHERE session_id = %s FOR UPDATE"
_STORED_KEYS = "SELECT id, inbound_id FROM messages WHERE session_id = %s"

# A dropped connection is retried this many times (on a fresh connection from the pool).
_ATTEMPTS = 3
_RETRY_PAUSE = 0.05


class PostgresStore:
    """SessionStore in PostgreSQL (the tables of migrations/postgres/, in the DSN's schema).

    Statements are prepared by psycopg on a connection from their second execution
    (`prepare_threshold=1`); every hot-path statement has one fixed text, appends included.

    Durability: each call is one autocommit statement (reset: one transaction), committed before
    the call returns. A connection that drops mid-call is retried on another one; appends are
    idempotent (unique message ids per session, ON CONFLICT DO NOTHING), so a retry after a
    commit whose answer was lost stores nothing twice and reports the batch as stored.

    Turn locks: an in-process lock per key plus a session-level advisory lock on a hash of the
    schema and the key (adapters/storage/pg_locks.py), so two gateways on one database never
    run two turns of one session at once.

    Errors: an unreachable server is StorageUnavailableError naming host, port and database
    (never the password); a schema newer than this code is SchemaVersionError.
    """

    def __init__(self, dsn: str, min_size: int = 1, max_size: int = 10, *, connect_timeout: float = 5.0) -> None:
        check_pool_sizes(min_size, max_size)
        self._dsn = dsn
        self._min_size = min_size
        self._max_size = max_size
        self._connect_timeout = connect_timeout
        self._where = describe_dsn(dsn)
        self._pool: AsyncConnectionPool[Conn] | None = None
        self._locks: AdvisoryLocks | None = None
        self._turn_locks = KeyedLocks()
        self.schema = ""

    @property
    def where(self) -> str:
        return self._where

    async def start(self) -> None:
        if self._pool is not None:
            return
        self._pool, self.schema = await open_migrated_pool(
            self._dsn, name="rustyclaw-sessions", what="the PostgreSQL session store",
            min_size=self._min_size, max_size=self._max_size, connect_timeout=self._connect_timeout,
        )
        self._locks = AdvisoryLocks(self._dsn, self.schema, connect_kwargs(self._connect_timeout))

    async def aclose(self) -> None:
        pool, self._pool = self._pool, None
        locks, self._locks = self._locks, None
        with anyio.CancelScope(shield=True):
            if locks is not None:
                await locks.aclose()
            if pool is not None:
                await pool.close()

    # -- index ------------------------------------------------------------------------------------

    async def get_session(self, key: str) -> SessionEntry | None:
        rows = await self._fetch("read a session from", f"{_SELECT_SESSIONS} WHERE key = %s", (key,))
        return session_from_row(rows[0], self._where) if rows else None

    async def put_session(self, entry: SessionEntry) -> None:
        await self._run("save a session in", lambda conn: conn.execute(_UPSERT_SESSION, session_row(entry)))

    async def list_sessions(self, agent_id: str | None = None) -> list[SessionEntry]:
        if agent_id is None:
            rows = await self._fetch("list sessions in", f"{_SELECT_SESSIONS} ORDER BY key", ())
        else:
            rows = await self._fetch(
                "list sessions in", f"{_SELECT_SESSIONS} WHERE agent_id = %s ORDER BY key", (agent_id,)
            )
        return [session_from_row(row, self._where) for row in rows]

    async def reset_session(self, key: str, new_session_id: str, now: float) -> SessionEntry:
        attempt = 0

        async def reset(conn: Conn) -> SessionEntry:
            nonlocal attempt
            attempt += 1
            async with conn.transaction():
                cursor = await conn.execute(f"{_SELECT_SESSIONS} WHERE key = %s FOR UPDATE", (key,))
                row = await cursor.fetchone()
                if row is None:
                    raise StorageError(f"cannot reset session {key!r}: it is not in {self._where}")
                current = session_from_row(row, self._where)
                if attempt > 1 and current.session_id == new_session_id:
                    return current  # an earlier attempt committed; its answer was lost
                fresh = entry_after_reset(current, new_session_id, now)
                # The sessions_transcript trigger archives the old transcript in this statement.
                await conn.execute(_UPSERT_SESSION, session_row(fresh))
                return fresh

        return await self._run("reset a session in", reset)

    # -- transcripts --------------------------------------------------------------------------------

    async def append_messages(self, entry: SessionEntry, messages: Sequence[ChatMessage]) -> list[ChatMessage]:
        batch = prepare_batch(messages)
        if not batch:
            return []
        session_id = entry.session_id
        where = f"session {session_id!r} of {self._where}"
        columns: list[list[Any]] = [[] for _ in _MESSAGE_COLUMNS]
        for message in batch:
            for column, value in zip(columns, message_row(message, where), strict=True):
                column.append(value)
        params = (session_id, *columns)
        ids = [m.id for m in batch]
        attempt = 0

        async def insert(conn: Conn) -> set[str]:
            nonlocal attempt
            attempt += 1
            cursor = await conn.execute(_INSERT_MESSAGES, params)
            inserted = {row[0] for row in await cursor.fetchall()}
            if attempt == 1:
                return inserted
            # A retry: rows an earlier attempt committed are ours too.
            cursor = await conn.execute(_STORED_IDS, (session_id, ids))
            return {row[0] for row in await cursor.fetchall()}

        stored = await self._run("append messages to", insert)
        if len(stored) == len(batch):
            return batch
        return [m for m in batch if m.id in stored]

    async def load_messages(self, entry: SessionEntry) -> list[ChatMessage]:
        rows = await self._fetch("load messages from", _SELECT_MESSAGES, (entry.session_id,))
        where = f"session {entry.session_id!r} of {self._where}"
        return [message_from_row(row, where) for row in rows]

    async def load_messages_from(self, entry: SessionEntry, start: int) -> list[ChatMessage]:
        if start <= 0:
            return await self.load_messages(entry)
        rows = await self._fetch("load messages from", f"{_SELECT_MESSAGES} OFFSET %s", (entry.session_id, start))
        where = f"session {entry.session_id!r} of {self._where}"
        return [message_from_row(row, where) for row in rows]

    async def has_inbound(self, entry: SessionEntry, inbound_id: str) -> bool:
        rows = await self._fetch("look up an inbound message in", _HAS_INBOUND, (entry.session_id, inbound_id))
        return bool(rows)

    # -- archived transcripts --------------------------------------------------------------------

    async def list_archived(self, agent_id: str | None = None) -> list[ArchivedTranscript]:
        if agent_id is None:
            rows = await self._fetch("list archived transcripts in", _SELECT_ARCHIVED + _ARCHIVED_ORDER, ())
        else:
            sql = f"{_SELECT_ARCHIVED} AND agent_id = %s{_ARCHIVED_ORDER}"
            rows = await self._fetch("list archived transcripts in", sql, (agent_id,))
        return [
            ArchivedTranscript(session_key=key, session_id=sid, agent_id=agent, archived_at=at, created_at=created)
            for key, sid, agent, at, created in rows
        ]

    async def load_archived(self, archived: ArchivedTranscript) -> list[ChatMessage]:
        rows = await self._fetch("load an archived transcript from", _SELECT_MESSAGES, (archived.session_id,))
        where = f"archived session {archived.session_id!r} of {self._where}"
        return [message_from_row(row, where) for row in rows]

    async def import_archived(self, archived: ArchivedTranscript, messages: Sequence[ChatMessage]) -> None:
        if not messages:
            return
        sid = archived.session_id
        where = f"archived session {sid!r} of {self._where}"
        record = (sid, archived.session_key, archived.agent_id, archived.created_at, archived.archived_at)
        prepared = prepare_batch(messages)  # ids given once, so a retry sends the same ones

        # One transaction, retried whole on a dropped connection: the id check makes a retry
        # after a lost commit store nothing.
        async def work(conn: Conn) -> None:
            async with conn.transaction():
                await conn.execute(_REGISTER_ARCHIVED, record)
                cursor = await conn.execute(_TRANSCRIPT_STATE, (sid,))
                state = await cursor.fetchone()
                if state is None or state[0] is None:
                    raise StorageError(
                        f"cannot import archived transcript {sid!r}: it is a live session in {self._where}"
                    )
                cursor = await conn.execute(_STORED_KEYS, (sid,))
                stored = await cursor.fetchall()
                ids = {row[0] for row in stored}
                inbound = {row[1] for row in stored if row[1] is not None}
                batch = import_batch(prepared, ids, inbound)
                if not batch:
                    return
                columns: list[list[Any]] = [[] for _ in _MESSAGE_COLUMNS]
                for message in batch:
                    for column, value in zip(columns, message_row(message, where), strict=True):
                        column.append(value)
                await conn.execute(_INSERT_MESSAGES, (sid, *columns))

        await self._run("import an archived transcript into", work)

    def turn_lock(self, key: str) -> AbstractAsyncContextManager[None]:
        return self._turn(key)

    @asynccontextmanager
    async def _turn(self, key: str) -> AsyncIterator[None]:
        async with self._turn_locks.hold(key):
            locks = self._locks
            if locks is None:
                raise StorageError(f"PostgreSQL store {self._where} is not open (call start() first; or it was closed)")
            async with locks.hold(key):
                yield

    def advisory_lock_id(self, key: str) -> int:
        """The advisory lock id `turn_lock(key)` takes (for operators and tests)."""
        return lock_id(self.schema, key)

    # -- plumbing -------------------------------------------------------------------------------

    def _open_pool(self) -> AsyncConnectionPool[Conn]:
        if self._pool is None:
            raise StorageError(f"PostgreSQL store {self._where} is not open (call start() first; or it was closed)")
        return self._pool

    async def _run(self, action: str, work: Callable[[Conn], Awaitable[T]]) -> T:
        """`work` on a pooled connection, again on another one if the connection drops."""
        pool = self._open_pool()
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                async with pool.connection() as conn:
                    return await work(conn)
            except StorageError:
                raise
            except Exception as exc:
                if attempt < _ATTEMPTS and is_connection_error(exc):
                    log.warning("%s: connection lost while trying to %s; retrying (%s)", self._where, action, exc)
                    await anyio.sleep(_RETRY_PAUSE * attempt)
                    continue
                raise translate_error(exc, action, self._dsn) from exc
        raise AssertionError("unreachable")

    async def _fetch(self, action: str, sql: str, params: Sequence[Any]) -> list[Any]:
        async def fetch(conn: Conn) -> list[Any]:
            cursor = await conn.execute(sql, params)
            return await cursor.fetchall()

        return await self._run(action, fetch)


if TYPE_CHECKING:
    _conforms: type[StorageBackend] = PostgresStore
