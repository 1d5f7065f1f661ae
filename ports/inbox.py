"""The inbound journal: every accepted platform message, durably, until its reply was delivered.

A channel records a message (`record`) before it acknowledges it to the platform (Telegram's next
`getUpdates` offset, a webhook's 200), so a crash or restart loses nothing that was acknowledged.
The dispatcher then moves the entry along: `replied` (the reply exists and is kept, so a restart
sends it instead of asking the model again), `delivered` (the platform accepted it), `done` (nothing
to send: access said nothing, a duplicate, a stopped turn) or `failed` (sending gave up; kept for
`rustyclaw status`). At start, `unfinished` lists what is still `received` or `replied`.

`record` is also the duplicate filter across restarts: it returns False for a key it already holds.
Keys are `<channel>:<account>:<message_id>`; a message without an id gets a unique key (no
filtering). Implementations: adapters/inbox/ (memory, SQLite in the state folder, PostgreSQL).

The HTTP APIs journal a request that carries an `Idempotency-Key` (adapters/http/idempotency.py):
`get` finds the first request under a key (to replay its answer, or to refuse a different body) and
`reply_once` keeps the first answer only, so two attempts that both finished answer alike.
"""

from __future__ import annotations

import uuid
from typing import Literal, Protocol, runtime_checkable

import msgspec

from rustyclaw.domain.messages import InboundMessage, OutboundMessage

State = Literal["received", "replied", "delivered", "done", "failed"]
UNFINISHED: tuple[State, ...] = ("received", "replied")


class InboxEntry(msgspec.Struct, kw_only=True):
    key: str
    message: InboundMessage
    state: State = "received"
    reply: OutboundMessage | None = None
    attempts: int = 0
    error: str | None = None
    received_at: float = 0.0
    updated_at: float = 0.0


class InboxCounts(msgspec.Struct, kw_only=True):
    """What `rustyclaw status` and `/readyz` show about delivery."""

    unfinished: int = 0
    failed: int = 0
    delivered: int = 0


def inbox_key(message: InboundMessage) -> str:
    if message.message_id is None:
        return f"{message.channel}:{message.account}:~{uuid.uuid4().hex}"
    return f"{message.channel}:{message.account}:{message.message_id}"


class Inbox(Protocol):
    async def start(self) -> None: ...

    async def aclose(self) -> None: ...

    async def record(self, message: InboundMessage, now: float) -> bool:
        """Stores a new message durably (committed when this returns); False when the key is known."""
        ...

    async def get(self, key: str) -> InboxEntry | None: ...

    async def replied(self, key: str, reply: OutboundMessage, now: float) -> None: ...

    async def reply_once(self, key: str, reply: OutboundMessage, now: float) -> OutboundMessage | None:
        """Keeps `reply` (state `replied`) unless the entry holds one already; returns the reply the
        entry holds afterwards (the first one kept), None for an unknown key."""
        ...

    async def finish(
        self, key: str, state: State, now: float, *, error: str | None = None, attempts: int = 0
    ) -> None:
        """`delivered`, `done` or `failed` (with `error`); `attempts` counts the send tries."""
        ...

    async def unfinished(self, channel: str, account: str) -> list[InboxEntry]:
        """Entries of one channel account still `received` or `replied`, oldest first."""
        ...

    async def failures(self, limit: int = 20) -> list[InboxEntry]:
        """The most recent `failed` entries, newest first."""
        ...

    async def counts(self) -> InboxCounts: ...

    async def prune(self, before: float) -> int:
        """Drops finished entries (delivered, done) last updated before `before`; returns how many."""
        ...


@runtime_checkable
class JournalingHandler(Protocol):
    """An InboundHandler that journals (domain/dispatch.py's ChannelDispatcher with an inbox).

    Channels (through adapters/channels/delivery.py) call `accept` before acknowledging a message,
    `unfinished`/`resume` as they start, and wait `drain_seconds` for running turns as they stop.
    """

    drain_seconds: float

    async def __call__(self, message: InboundMessage) -> None: ...

    async def accept(self, message: InboundMessage) -> bool: ...

    async def unfinished(self) -> list[InboxEntry]: ...

    async def resume(self, entry: InboxEntry) -> None: ...
