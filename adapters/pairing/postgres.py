"""Pairing state in PostgreSQL (tables `pairing_pending`, `pairing_approved` of migration 003), so
that gateway replicas on one database see each other's codes and approvals.

`update_pending` reads, changes and rewrites one channel's list in one transaction that first takes
a transaction-scoped advisory lock on the channel: a row lock would not do, because the list may
be empty (nothing to lock) when two replicas issue the first code at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from rustyclaw.adapters.storage.pg_locks import lock_id
from rustyclaw.adapters.storage.pg_pool import PgPool
from rustyclaw.ports.pairing import PairingRequest, PairingStore

if TYPE_CHECKING:
    from rustyclaw.adapters.storage.pg_pool import Conn

T = TypeVar("T")

_COLUMNS = "sender_id, code, created_at, last_seen_at, sender_name, account"
_SELECT_PENDING = f"SELECT {_COLUMNS} FROM pairing_pending WHERE channel = %s ORDER BY position"
_INSERT_PENDING = (
    f"INSERT INTO pairing_pending (channel, position, {_COLUMNS}) "
    "SELECT %s, ord::int, s, c, ca, ls, n, a FROM unnest("
    "%s::text[], %s::text[], %s::float8[], %s::float8[], %s::text[], %s::text[]"
    ") WITH ORDINALITY AS batch (s, c, ca, ls, n, a, ord)"
)
_ADD_APPROVED = (
    "INSERT INTO pairing_approved (channel, sender_id, approved_at) VALUES (%s, %s, %s) "
    "ON CONFLICT (channel, sender_id) DO NOTHING"
)
_CHANNELS = "SELECT channel FROM pairing_pending UNION SELECT channel FROM pairing_approved ORDER BY 1"


def _request(row: tuple[object, ...]) -> PairingRequest:
    sender_id, code, created_at, last_seen_at, sender_name, account = row
    return PairingRequest(
        sender_id=str(sender_id), code=str(code), created_at=float(created_at),  # type: ignore[arg-type]
        last_seen_at=float(last_seen_at), sender_name=str(sender_name), account=str(account),  # type: ignore[arg-type]
    )


class PostgresPairingStore:
    """A PairingStore in PostgreSQL; every replica's instance over one database sees the same state."""

    def __init__(self, pool: PgPool, *, now: Callable[[], float] = time.time) -> None:
        self._pool = pool
        self._now = now

    async def list_pending(self, channel: str) -> list[PairingRequest]:
        rows = await self._pool.fetch("read pairing requests from", _SELECT_PENDING, (channel,))
        return [_request(row) for row in rows]

    async def update_pending(self, channel: str, change: Callable[[list[PairingRequest]], T]) -> T:
        async def work(conn: Conn) -> T:
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock_id("pairing", channel),))
                cursor = await conn.execute(_SELECT_PENDING, (channel,))
                requests = [_request(row) for row in await cursor.fetchall()]
                # `change` runs inside the transaction: a retry after a dropped connection runs it
                # again on what is stored then, never on a half-applied list.
                result = change(requests)
                await conn.execute("DELETE FROM pairing_pending WHERE channel = %s", (channel,))
                if requests:
                    await conn.execute(_INSERT_PENDING, (
                        channel,
                        [r.sender_id for r in requests], [r.code for r in requests],
                        [r.created_at for r in requests], [r.last_seen_at for r in requests],
                        [r.sender_name for r in requests], [r.account for r in requests],
                    ))
                return result

        return await self._pool.run("update pairing requests in", work)

    async def approved(self, channel: str) -> frozenset[str]:
        rows = await self._pool.fetch(
            "read approved senders from", "SELECT sender_id FROM pairing_approved WHERE channel = %s", (channel,)
        )
        return frozenset(str(row[0]) for row in rows)

    async def add_approved(self, channel: str, sender_id: str) -> None:
        await self._pool.execute("approve a sender in", _ADD_APPROVED, (channel, sender_id, self._now()))

    async def channels(self) -> list[str]:
        rows = await self._pool.fetch("list pairing channels in", _CHANNELS)
        return [str(row[0]) for row in rows]


if TYPE_CHECKING:
    _conforms: type[PairingStore] = PostgresPairingStore
