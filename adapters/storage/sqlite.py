"""SQLite session store (aiosqlite, WAL): the embedded default backend."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast

import anyio

from rustyclaw.adapters.storage.codec import (
    SESSION_COLUMNS,
    message_from_row,
    message_row,
    session_from_row,
    session_row,
)
from rustyclaw.adapters.storage.locks import KeyedLocks, TransactionGate
from rustyclaw.adapters.storage.migrations import discover, migrate
from rustyclaw.adapters.storage.rules import entry_after_reset, import_batch, prepare_batch
from rustyclaw.adapters.storage.sqlite_schema import SQLiteMigrationTarget, rollback_quietly, translate_error
from rustyclaw.domain.errors import StorageError, StorageUnavailableError
from rustyclaw.domain.messages import ChatMessage, SessionEntry
from rustyclaw.ports.archive import ArchivedTranscript
from rustyclaw.ports.storage import StorageBackend

if TYPE_CHECKING:
    import sqlite3

    import aiosqlite

T = TypeVar("T")

# Column names are the struct field names. Session columns follow SessionEntry by construction;
# message columns are spelled out because _message() unpacks rows positionally (6x faster than
# building from a dict, which matters when loading long transcripts). A field added to either
# struct needs a migration and, for messages, these lines: tests/unit/test_sqlite_store.py fails
# until both are done.
_MESSAGE_COLUMNS = (
    "role", "content", "tool_calls", "tool_call_id", "name",
    "id", "created_at", "tokens", "inbound_id", "meta",
)  # fmt: skip

_SELECT_SESSIONS = f"SELECT {', '.join(SESSION_COLUMNS)} FROM sessions"
_UPSERT_SESSION = (
    f"INSERT INTO sessions ({', '.join(SESSION_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in SESSION_COLUMNS)}) "
    "ON CONFLICT (key) DO UPDATE SET "
    + ", ".join(f"{column} = excluded.{column}" for column in SESSION_COLUMNS if column != "key")
)
_SELECT_MESSAGES = f"SELECT {', '.join(_MESSAGE_COLUMNS)} FROM messages WHERE session_id = ? ORDER BY seq"
_HAS_INBOUND = "SELECT 1 FROM messages WHERE session_id = ? AND inbound_id = ? LIMIT 1"
_SELECT_SESSION_SEEN = (
    f"SELECT {', '.join(SESSION_COLUMNS)}, EXISTS (SELECT 1 FROM messages AS m "
    "WHERE m.session_id = sessions.session_id AND m.inbound_id = ?) FROM sessions WHERE key = ?"
)
# Archived transcripts that hold messages (a reset of an empty session leaves nothing to keep).
_SELECT_ARCHIVED = (
    "SELECT session_key, session_id, agent_id, archived_at, created_at FROM transcripts AS t "
    "WHERE archived_at IS NOT NULL AND EXISTS (SELECT 1 FROM messages AS m WHERE m.session_id = t.session_id)"
)
_ARCHIVED_ORDER = " ORDER BY session_key, archived_at, session_id"
_REGISTER_ARCHIVED = (
    "INSERT INTO transcripts (session_id, session_key, agent_id, created_at, archived_at) "
    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (session_id) DO NOTHING"
)
_TRANSCRIPT_STATE = "SELECT archived_at FROM transcripts WHERE session_id = ?"
_STORED_IDS = "SELECT id, inbound_id FROM messages WHERE session_id = ?"
# 11 parameters a row; 90 rows stay under the 999-variable limit of older SQLite builds.
_ROWS_PER_INSERT = 90

# cache_size: SQLite's page cache grows with the database up to 2 MB by default, which showed as
# RSS growing with the message count (benchmarks/README.md, issue #19); hot transcripts are in
# the session service's history cache and the rest in the OS's page cache, so 512 KiB is enough.
_PRAGMAS = """
PRAGMA busy_timeout = {busy_ms};
PRAGMA journal_mode = WAL;
PRAGMA synchronous = {synchronous};
PRAGMA foreign_keys = ON;
PRAGMA cache_size = -512;
"""


def _insert_messages_sql(rows: int) -> str:
    row = f"(session_id, {', '.join(_MESSAGE_COLUMNS)})"
    values = ", ".join([f"({', '.join('?' * (len(_MESSAGE_COLUMNS) + 1))})"] * rows)
    # A repeated inbound id is skipped, not an error; RETURNING tells which rows went in.
    return (
        f"INSERT INTO messages {row} VALUES {values} "
        "ON CONFLICT (session_id, inbound_id) WHERE inbound_id IS NOT NULL DO NOTHING "
        "RETURNING inbound_id"
    )


_INSERT_SQL_CACHE: dict[int, str] = {}


def _insert_sql(rows: int) -> str:
    sql = _INSERT_SQL_CACHE.get(rows)
    if sql is None:
        sql = _INSERT_SQL_CACHE[rows] = _insert_messages_sql(rows)
    return sql


class SQLiteStore:
    """SessionStore in one SQLite file; `path=":memory:"` gives a private in-memory database.

    Durability: WAL with `synchronous=NORMAL`. A commit is written to the WAL before
    `append_messages` returns, so it survives the process crashing or being killed; only an OS
    crash or power loss before the next checkpoint can lose the newest commits, and that never
    corrupts the file. `FULL` adds an fsync to every commit, milliseconds on most disks and more
    than the whole per-message overhead budget; pass `synchronous="FULL"` where power-loss
    durability of the last reply matters more than latency.

    Concurrency: one connection, whose worker thread runs statements in submission order. Single
    statements (all the hot-path calls) are atomic on their own and pipeline freely; the few
    multi-statement transactions (reset, very large appends) hold a gate that keeps other
    statements out until they commit.

    Turn locks exclude turns of this process only: SQLite has no advisory locks, and holding its
    write lock for a whole turn (seconds of model time) would stall every other session's writes.
    Run one gateway per database file.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        synchronous: Literal["NORMAL", "FULL"] = "NORMAL",
        busy_timeout: float = 5.0,
    ) -> None:
        if synchronous not in ("NORMAL", "FULL"):
            raise StorageError(f"SQLite synchronous must be 'NORMAL' or 'FULL', not {synchronous!r}")
        self._path = path if path == ":memory:" else Path(path)
        self._where = str(self._path)
        self._pragmas = _PRAGMAS.format(busy_ms=int(busy_timeout * 1000), synchronous=synchronous)
        self._db: aiosqlite.Connection | None = None
        self._gate = TransactionGate()
        self._turn_locks = KeyedLocks()

    @property
    def path(self) -> str | Path:
        return self._path

    async def start(self) -> None:
        if self._db is not None:
            return
        import sqlite3

        import aiosqlite

        if sqlite3.sqlite_version_info < (3, 35):
            raise StorageError(
                f"SQLite {sqlite3.sqlite_version} is too old for {self._where}; RustyClaw needs 3.35 or newer"
            )
        if isinstance(self._path, Path):
            try:
                self._path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StorageUnavailableError(
                    f"cannot create the folder of SQLite database {self._where}: {exc}"
                ) from exc
        connection = aiosqlite.connect(self._where, isolation_level=None)
        try:
            db = await connection
        except Exception as exc:
            # aiosqlite stops its worker thread on a failed connect without waiting for it; the
            # thread then reports to the event loop, which must still be running when it does.
            thread = getattr(connection, "_thread", None)
            if thread is not None:
                await anyio.to_thread.run_sync(thread.join, 5.0)
            raise translate_error(exc, "open", self._where) from exc
        try:
            with self._translating("open"):
                await db.executescript(self._pragmas)
            await migrate(SQLiteMigrationTarget(db, self._where), discover("sqlite"), self._where)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await db.close()
            raise
        self._db = db

    async def aclose(self) -> None:
        db, self._db = self._db, None
        if db is None:
            return
        with anyio.CancelScope(shield=True), self._translating("close"):
            await db.close()

    async def get_session(self, key: str) -> SessionEntry | None:
        rows = await self._fetch("read a session from", f"{_SELECT_SESSIONS} WHERE key = ?", (key,))
        return session_from_row(rows[0], self._where) if rows else None

    async def get_session_seen(self, key: str, inbound_id: str) -> tuple[SessionEntry | None, bool]:
        """get_session + has_inbound in one statement (ports/session_store.py InboundLookupStore)."""
        rows = await self._fetch("read a session from", _SELECT_SESSION_SEEN, (inbound_id, key))
        if not rows:
            return None, False
        *columns, seen = rows[0]
        return session_from_row(columns, self._where), bool(seen)

    async def put_session(self, entry: SessionEntry) -> None:
        await self._fetch("save a session in", _UPSERT_SESSION, session_row(entry))

    async def list_sessions(self, agent_id: str | None = None) -> list[SessionEntry]:
        if agent_id is None:
            rows = await self._fetch("list sessions in", f"{_SELECT_SESSIONS} ORDER BY key", ())
        else:
            rows = await self._fetch(
                "list sessions in", f"{_SELECT_SESSIONS} WHERE agent_id = ? ORDER BY key", (agent_id,)
            )
        return [session_from_row(row, self._where) for row in rows]

    async def append_messages(
        self, entry: SessionEntry, messages: Sequence[ChatMessage]
    ) -> list[ChatMessage]:
        batch = prepare_batch(messages)
        if not batch:
            return []
        session_id = entry.session_id
        where = f"session {session_id!r} of {self._where}"
        params = [(session_id, *message_row(message, where)) for message in batch]
        if len(batch) <= _ROWS_PER_INSERT:
            flat = [value for row in params for value in row]
            rows = await self._fetch("append messages to", _insert_sql(len(batch)), flat)
        else:
            rows = await self._in_transaction(
                "append messages to", lambda db: self._insert_chunks(db, params)
            )
        if all(message.inbound_id is None for message in batch):
            return batch
        stored = {row[0] for row in rows}
        return [m for m in batch if m.inbound_id is None or m.inbound_id in stored]

    async def append_and_put(
        self, entry: SessionEntry, messages: Sequence[ChatMessage]
    ) -> list[ChatMessage]:
        """append_messages + put_session in one transaction and one trip to the connection's thread
        (ports/session_store.py TurnTailStore): the end of a turn, one commit instead of two."""
        batch = prepare_batch(messages)
        if not batch or len(batch) > _ROWS_PER_INSERT:
            appended = await self.append_messages(entry, batch)
            await self.put_session(entry)
            return appended
        where = f"session {entry.session_id!r} of {self._where}"
        flat = [value for message in batch for value in (entry.session_id, *message_row(message, where))]
        insert, upsert, session = _insert_sql(len(batch)), _UPSERT_SESSION, session_row(entry)

        def write(conn: sqlite3.Connection) -> list[Any]:
            # Runs on the connection's thread, start to end: nothing else is submitted in between.
            conn.execute("BEGIN IMMEDIATE")
            try:
                rows = conn.execute(insert, flat).fetchall()
                conn.execute(upsert, session)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            return rows

        rows = await self._run("append messages to", write)
        if all(message.inbound_id is None for message in batch):
            return batch
        stored = {row[0] for row in rows}
        return [m for m in batch if m.inbound_id is None or m.inbound_id in stored]

    async def load_messages(self, entry: SessionEntry) -> list[ChatMessage]:
        rows = await self._fetch("load messages from", _SELECT_MESSAGES, (entry.session_id,))
        where = f"session {entry.session_id!r} of {self._where}"
        return [message_from_row(row, where) for row in rows]

    async def load_messages_from(self, entry: SessionEntry, start: int) -> list[ChatMessage]:
        if start <= 0:
            return await self.load_messages(entry)
        rows = await self._fetch("load messages from", f"{_SELECT_MESSAGES} LIMIT -1 OFFSET ?",
                                 (entry.session_id, start))
        where = f"session {entry.session_id!r} of {self._where}"
        return [message_from_row(row, where) for row in rows]

    async def has_inbound(self, entry: SessionEntry, inbound_id: str) -> bool:
        rows = await self._fetch(
            "look up an inbound message in", _HAS_INBOUND, (entry.session_id, inbound_id)
        )
        return bool(rows)

    async def reset_session(self, key: str, new_session_id: str, now: float) -> SessionEntry:
        async def reset(db: aiosqlite.Connection) -> SessionEntry:
            rows = list(await db.execute_fetchall(f"{_SELECT_SESSIONS} WHERE key = ?", (key,)))
            if not rows:
                raise StorageError(f"cannot reset session {key!r}: it is not in {self._where}")
            fresh = entry_after_reset(session_from_row(rows[0], self._where), new_session_id, now)
            # The sessions_switch_transcript trigger archives the old transcript in this statement.
            await db.execute_fetchall(_UPSERT_SESSION, session_row(fresh))
            return fresh

        return await self._in_transaction("reset a session in", reset)

    def turn_lock(self, key: str) -> AbstractAsyncContextManager[None]:
        return self._turn_locks.hold(key)

    # -- archived transcripts ---------------------------------------------------------------

    async def list_archived(self, agent_id: str | None = None) -> list[ArchivedTranscript]:
        if agent_id is None:
            rows = await self._fetch("list archived transcripts in", _SELECT_ARCHIVED + _ARCHIVED_ORDER, ())
        else:
            sql = f"{_SELECT_ARCHIVED} AND agent_id = ?{_ARCHIVED_ORDER}"
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

        async def work(db: aiosqlite.Connection) -> None:
            await db.execute_fetchall(
                _REGISTER_ARCHIVED,
                (sid, archived.session_key, archived.agent_id, archived.created_at, archived.archived_at),
            )
            state = list(await db.execute_fetchall(_TRANSCRIPT_STATE, (sid,)))
            if state[0][0] is None:
                raise StorageError(f"cannot import archived transcript {sid!r}: it is a live session in {self._where}")
            stored = list(await db.execute_fetchall(_STORED_IDS, (sid,)))
            ids = {row[0] for row in stored}
            inbound = {row[1] for row in stored if row[1] is not None}
            batch = import_batch(messages, ids, inbound)
            params = [(sid, *message_row(message, where)) for message in batch]
            await self._insert_chunks(db, params)

        await self._in_transaction("import an archived transcript into", work)

    # -- plumbing ---------------------------------------------------------------------------

    def _open_db(self) -> aiosqlite.Connection:
        if self._db is None:
            raise StorageError(
                f"SQLite store {self._where} is not open (call start() first; or it was closed)"
            )
        return self._db

    @contextmanager
    def _translating(self, action: str) -> Iterator[None]:
        try:
            yield
        except StorageError:
            raise
        except Exception as exc:
            raise translate_error(exc, action, self._where) from exc

    async def _fetch(self, action: str, sql: str, params: Sequence[Any]) -> list[Any]:
        db = self._open_db()
        with self._translating(action):
            # Nothing may await between wait_clear() and the submission (see TransactionGate).
            await self._gate.wait_clear()
            return list(await db.execute_fetchall(sql, params))

    async def _run(self, action: str, work: Callable[[sqlite3.Connection], T]) -> T:
        """`work` on the connection's own thread, in one hop: several statements for the price of
        one round trip. aiosqlite has no public call for this; `_execute` is what its own methods
        use (tests/integration/test_turn_round_trips.py fails if it goes away)."""
        db = self._open_db()
        with self._translating(action):
            # Nothing may await between wait_clear() and the submission (see TransactionGate).
            await self._gate.wait_clear()
            return cast(T, await db._execute(work, db._conn))  # type: ignore[no-untyped-call]

    async def _in_transaction(self, action: str, work: Callable[[aiosqlite.Connection], Awaitable[T]]) -> T:
        db = self._open_db()
        async with self._gate.exclusive():
            # Shielded: a cancelled caller must not leave the write transaction open.
            with anyio.CancelScope(shield=True), self._translating(action):
                await db.execute("BEGIN IMMEDIATE")
                try:
                    result = await work(db)
                    await db.execute("COMMIT")
                except BaseException:
                    await rollback_quietly(db)
                    raise
        return result

    @staticmethod
    async def _insert_chunks(db: aiosqlite.Connection, params: list[tuple[Any, ...]]) -> list[Any]:
        returned: list[Any] = []
        for start in range(0, len(params), _ROWS_PER_INSERT):
            chunk = params[start : start + _ROWS_PER_INSERT]
            flat = [value for row in chunk for value in row]
            returned.extend(await db.execute_fetchall(_insert_sql(len(chunk)), flat))
        return returned


if TYPE_CHECKING:
    _conforms: type[StorageBackend] = SQLiteStore
