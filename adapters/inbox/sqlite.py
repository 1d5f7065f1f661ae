"""The inbound journal in SQLite: `<state>/inbox.db`, its own file (WAL, synchronous=NORMAL).

Its own file rather than a table of the session store: it is written before every acknowledgement,
must commit on its own, and works whichever session store is configured (JSON files included).
`record` returns only once the row is committed to the WAL, so a SIGKILL right after it loses
nothing (as the session store: only an OS crash before the next checkpoint could).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from rustyclaw.domain.errors import StorageError
from rustyclaw.domain.messages import InboundMessage, OutboundMessage
from rustyclaw.ports.inbox import UNFINISHED, InboxCounts, InboxEntry, State, inbox_key

if TYPE_CHECKING:
    import aiosqlite

FILE_NAME = "inbox.db"
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS inbox (key TEXT PRIMARY KEY, channel TEXT NOT NULL, account TEXT NOT NULL, "
    "state TEXT NOT NULL, message BLOB NOT NULL, reply BLOB, attempts INTEGER NOT NULL DEFAULT 0, error TEXT, "
    "received_at REAL NOT NULL, updated_at REAL NOT NULL)",
    "CREATE INDEX IF NOT EXISTS inbox_open ON inbox (state, channel, account, received_at)",
)
_COLUMNS = "key, state, message, reply, attempts, error, received_at, updated_at"
_message = msgspec.msgpack.Decoder(InboundMessage)
_reply = msgspec.msgpack.Decoder(OutboundMessage)
_encode = msgspec.msgpack.Encoder().encode


def _entry(row: Any) -> InboxEntry:
    key, state, message, reply, attempts, error, received_at, updated_at = row
    return InboxEntry(key=key, state=state, message=_message.decode(message),
                      reply=_reply.decode(reply) if reply is not None else None, attempts=attempts,
                      error=error, received_at=received_at, updated_at=updated_at)


class SqliteInbox:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._db: aiosqlite.Connection | None = None

    @classmethod
    def in_state_dir(cls, state_dir: str | Path) -> SqliteInbox:
        return cls(Path(state_dir).expanduser() / FILE_NAME)

    async def start(self) -> None:
        if self._db is not None:
            return
        import aiosqlite

        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            # Autocommit: every write is one statement that commits on its own, so each call is one
            # trip to the connection's thread (an execute and a commit were two, a cursor's
            # fetch and close two more; issue #19).
            db = await aiosqlite.connect(self.path, isolation_level=None)
            await db.execute("PRAGMA journal_mode=WAL")
            await db.execute("PRAGMA synchronous=NORMAL")
            for statement in _SCHEMA:
                await db.execute(statement)
        except Exception as exc:
            raise StorageError(f"cannot open the inbound journal {self.path}: {exc}") from exc
        self._db = db

    async def aclose(self) -> None:
        db, self._db = self._db, None
        if db is not None:
            await db.close()

    def _conn(self) -> aiosqlite.Connection:
        if self._db is None:
            raise StorageError("the inbound journal is not started")
        return self._db

    async def record(self, message: InboundMessage, now: float) -> bool:
        # RETURNING yields a row only when the row went in (OR IGNORE skips a known key).
        rows = await self._conn().execute_fetchall(
            "INSERT OR IGNORE INTO inbox (key, channel, account, state, message, received_at, updated_at) "
            "VALUES (?, ?, ?, 'received', ?, ?, ?) RETURNING key",
            (inbox_key(message), message.channel, message.account, _encode(message), now, now),
        )
        return bool(rows)

    async def get(self, key: str) -> InboxEntry | None:
        rows = list(await self._conn().execute_fetchall(f"SELECT {_COLUMNS} FROM inbox WHERE key = ?", (key,)))
        return _entry(rows[0]) if rows else None

    async def reply_once(self, key: str, reply: OutboundMessage, now: float) -> OutboundMessage | None:
        # One connection, one process: the UPDATE and the SELECT cannot interleave with another writer.
        db = self._conn()
        await db.execute_fetchall("UPDATE inbox SET state = 'replied', reply = ?, updated_at = ? WHERE key = ? "
                                  "AND reply IS NULL", (_encode(reply), now, key))
        rows = list(await db.execute_fetchall("SELECT reply FROM inbox WHERE key = ?", (key,)))
        return _reply.decode(rows[0][0]) if rows and rows[0][0] is not None else None

    async def replied(self, key: str, reply: OutboundMessage, now: float) -> None:
        await self._conn().execute_fetchall(
            "UPDATE inbox SET state = 'replied', reply = ?, updated_at = ? WHERE key = ?", (_encode(reply), now, key))

    async def finish(
        self, key: str, state: State, now: float, *, error: str | None = None, attempts: int = 0
    ) -> None:
        await self._conn().execute_fetchall(
            "UPDATE inbox SET state = ?, error = ?, attempts = ?, updated_at = ? WHERE key = ?",
            (state, error, attempts, now, key))

    async def unfinished(self, channel: str, account: str) -> list[InboxEntry]:
        rows = await self._conn().execute_fetchall(
            f"SELECT {_COLUMNS} FROM inbox WHERE state IN (?, ?) AND channel = ? AND account = ? "
            "ORDER BY received_at, rowid", (*UNFINISHED, channel, account),
        )
        return [_entry(row) for row in rows]

    async def failures(self, limit: int = 20) -> list[InboxEntry]:
        rows = await self._conn().execute_fetchall(
            f"SELECT {_COLUMNS} FROM inbox WHERE state = 'failed' ORDER BY updated_at DESC LIMIT ?", (limit,))
        return [_entry(row) for row in rows]

    async def counts(self) -> InboxCounts:
        rows = await self._conn().execute_fetchall("SELECT state, COUNT(*) FROM inbox GROUP BY state")
        by_state = {state: count for state, count in rows}
        return InboxCounts(unfinished=sum(by_state.get(s, 0) for s in UNFINISHED),
                           failed=by_state.get("failed", 0), delivered=by_state.get("delivered", 0))

    async def prune(self, before: float) -> int:
        db = self._conn()
        cursor = await db.execute(
            "DELETE FROM inbox WHERE state IN ('delivered', 'done') AND updated_at < ?", (before,))
        count = cursor.rowcount
        await cursor.close()
        return count
