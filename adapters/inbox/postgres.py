"""The inbound journal in PostgreSQL (the `postgres` storage backend): table `rustyclaw_inbox`.

Created at start if missing (the session store's migrations stay its own). Every call is one
autocommit statement, so `record` returns once the row is committed.

Replicas share the table: webhooks reach any of them. An entry carries its `owner` (the instance
that recorded or last claimed it); `unfinished` claims, in one UPDATE, the entries that are this
owner's own (a restart of the same instance) or that no one touched for `stale_seconds` (a replica
that died), so two live replicas never answer the same message. Needs the `postgres` extra.

The table is also the replicas' shared duplicate filter (`record`'s ON CONFLICT DO NOTHING on
channel:account:message id). With `keep_seconds` (serve passes it under `gateway.replicas`, whose
replicas may run for weeks between the start-up prunes) a `record` also drops, at most once per
`prune_every` seconds, the answered entries older than that.
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING, Any

import msgspec

from rustyclaw.domain.errors import MissingExtraError, StorageError
from rustyclaw.domain.messages import InboundMessage, OutboundMessage
from rustyclaw.ports.inbox import UNFINISHED, InboxCounts, InboxEntry, State, inbox_key

if TYPE_CHECKING:
    import psycopg
    from psycopg_pool import AsyncConnectionPool

    Conn = psycopg.AsyncConnection[tuple[Any, ...]]

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS rustyclaw_inbox (key text PRIMARY KEY, channel text NOT NULL, "
    "account text NOT NULL, state text NOT NULL, message bytea NOT NULL, reply bytea, "
    "attempts integer NOT NULL DEFAULT 0, error text, owner text NOT NULL, received_at float8 NOT NULL, "
    "updated_at float8 NOT NULL)",
    "CREATE INDEX IF NOT EXISTS rustyclaw_inbox_open ON rustyclaw_inbox (state, channel, account, received_at)",
)
_COLUMNS = "key, state, message, reply, attempts, error, received_at, updated_at"
_message = msgspec.msgpack.Decoder(InboundMessage)
_reply = msgspec.msgpack.Decoder(OutboundMessage)
_encode = msgspec.msgpack.Encoder().encode
STALE_SECONDS = 900.0
PRUNE_EVERY = 3600.0


def default_owner() -> str:
    return socket.gethostname()


def _entry(row: Any) -> InboxEntry:
    key, state, message, reply, attempts, error, received_at, updated_at = row
    return InboxEntry(key=key, state=state, message=_message.decode(bytes(message)),
                      reply=_reply.decode(bytes(reply)) if reply is not None else None, attempts=attempts,
                      error=error, received_at=received_at, updated_at=updated_at)


class PostgresInbox:
    def __init__(self, dsn: str, *, owner: str | None = None, stale_seconds: float = STALE_SECONDS,
                 connect_timeout: float = 10.0, keep_seconds: float | None = None,
                 prune_every: float = PRUNE_EVERY) -> None:
        self._dsn = dsn
        self._keep = keep_seconds
        self._prune_every = prune_every
        self._pruned_at: float | None = None
        self.owner = owner or default_owner()
        self._stale = stale_seconds
        self._connect_timeout = connect_timeout
        self._pool: AsyncConnectionPool[Conn] | None = None

    async def start(self) -> None:
        if self._pool is not None:
            return
        try:
            from psycopg_pool import AsyncConnectionPool
        except ImportError as exc:
            raise MissingExtraError("psycopg", "postgres", "the PostgreSQL inbound journal") from exc
        pool: AsyncConnectionPool[Conn] = AsyncConnectionPool(
            self._dsn, min_size=1, max_size=4, open=False, name="rustyclaw-inbox",
            kwargs={"autocommit": True, "connect_timeout": max(1, round(self._connect_timeout))},
            timeout=self._connect_timeout * 2,
        )
        try:
            await pool.open(wait=True, timeout=self._connect_timeout * 2)
            async with pool.connection() as conn:
                for statement in _SCHEMA:
                    await conn.execute(statement)
        except Exception as exc:
            await pool.close()
            raise StorageError(f"cannot open the inbound journal in PostgreSQL: {type(exc).__name__}: {exc}") from exc
        self._pool = pool

    async def aclose(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    def _conn(self) -> Any:
        if self._pool is None:
            raise StorageError("the inbound journal is not started")
        return self._pool.connection()

    async def record(self, message: InboundMessage, now: float) -> bool:
        async with self._conn() as conn:
            cursor = await conn.execute(
                "INSERT INTO rustyclaw_inbox (key, channel, account, state, message, owner, received_at, updated_at) "
                "VALUES (%s, %s, %s, 'received', %s, %s, %s, %s) ON CONFLICT (key) DO NOTHING",
                (inbox_key(message), message.channel, message.account, _encode(message), self.owner, now, now),
            )
            fresh = bool(cursor.rowcount == 1)
            if self._keep is not None and (self._pruned_at is None or now - self._pruned_at >= self._prune_every):
                self._pruned_at = now
                await conn.execute("DELETE FROM rustyclaw_inbox WHERE state IN ('delivered', 'done') "
                                   "AND updated_at < %s", (now - self._keep,))
            return fresh

    async def get(self, key: str) -> InboxEntry | None:
        async with self._conn() as conn:
            cursor = await conn.execute(f"SELECT {_COLUMNS} FROM rustyclaw_inbox WHERE key = %s", (key,))
            row = await cursor.fetchone()
        return _entry(row) if row is not None else None

    async def reply_once(self, key: str, reply: OutboundMessage, now: float) -> OutboundMessage | None:
        # Two replicas may finish the same request (a retry while the first attempt still ran): the
        # UPDATE's row lock and its re-checked `reply IS NULL` let only the first keep its reply.
        async with self._conn() as conn:
            await conn.execute("UPDATE rustyclaw_inbox SET state = 'replied', reply = %s, updated_at = %s "
                               "WHERE key = %s AND reply IS NULL", (_encode(reply), now, key))
            cursor = await conn.execute("SELECT reply FROM rustyclaw_inbox WHERE key = %s", (key,))
            row = await cursor.fetchone()
        return _reply.decode(bytes(row[0])) if row is not None and row[0] is not None else None

    async def replied(self, key: str, reply: OutboundMessage, now: float) -> None:
        async with self._conn() as conn:
            await conn.execute("UPDATE rustyclaw_inbox SET state = 'replied', reply = %s, updated_at = %s "
                               "WHERE key = %s", (_encode(reply), now, key))

    async def finish(
        self, key: str, state: State, now: float, *, error: str | None = None, attempts: int = 0
    ) -> None:
        async with self._conn() as conn:
            await conn.execute("UPDATE rustyclaw_inbox SET state = %s, error = %s, attempts = %s, updated_at = %s "
                               "WHERE key = %s", (state, error, attempts, now, key))

    async def unfinished(self, channel: str, account: str) -> list[InboxEntry]:
        import time

        now = time.time()
        async with self._conn() as conn:
            cursor = await conn.execute(
                f"UPDATE rustyclaw_inbox SET owner = %s, updated_at = %s WHERE state = ANY(%s) AND channel = %s "
                f"AND account = %s AND (owner = %s OR updated_at < %s) RETURNING {_COLUMNS}",
                (self.owner, now, list(UNFINISHED), channel, account, self.owner, now - self._stale),
            )
            rows = await cursor.fetchall()
        return sorted((_entry(row) for row in rows), key=lambda e: e.received_at)

    async def failures(self, limit: int = 20) -> list[InboxEntry]:
        async with self._conn() as conn:
            cursor = await conn.execute(
                f"SELECT {_COLUMNS} FROM rustyclaw_inbox WHERE state = 'failed' ORDER BY updated_at DESC LIMIT %s",
                (limit,))
            return [_entry(row) for row in await cursor.fetchall()]

    async def counts(self) -> InboxCounts:
        async with self._conn() as conn:
            cursor = await conn.execute("SELECT state, COUNT(*) FROM rustyclaw_inbox GROUP BY state")
            by_state = {state: int(count) for state, count in await cursor.fetchall()}
        return InboxCounts(unfinished=sum(by_state.get(s, 0) for s in UNFINISHED),
                           failed=by_state.get("failed", 0), delivered=by_state.get("delivered", 0))

    async def prune(self, before: float) -> int:
        async with self._conn() as conn:
            cursor = await conn.execute(
                "DELETE FROM rustyclaw_inbox WHERE state IN ('delivered', 'done') AND updated_at < %s", (before,))
            return int(cursor.rowcount)
