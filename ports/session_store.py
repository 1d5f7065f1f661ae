"""The session store port: a durable session index plus append-only transcripts.

One of the three storage ports (aiogram splits storage and event isolation the same way):
- `SessionStore` (here): sessions and their transcripts, what a turn reads and appends;
- `TurnLock` (ports/turn_lock.py): one turn at a time per session;
- `TranscriptArchive` (ports/archive.py): archived transcripts, for listing, copy and import.
Every backend in adapters/storage/ implements all three; `ports/storage.py` names the bundle.
New append-style entries (compaction summaries, ...) belong in this port.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from rustyclaw.domain.messages import ChatMessage, SessionEntry


class SessionStore(Protocol):
    """Durable session index plus append-only transcripts.

    Contract (tests/contract/test_session_store_contract.py runs it against every backend):
    - `start()` connects, applies pending migrations and refuses a schema newer than it knows
      (`SchemaVersionError`); `aclose()` releases everything and is idempotent.
    - `put_session` creates or replaces the index entry for `entry.key`.
    - `append_messages` is durable when it returns; messages keep their order; each gets a
      non-empty `id` if it had none. A message whose `inbound_id` is already stored in the same
      session is skipped; the return value is the list actually stored.
    - `load_messages` returns the session's transcript in append order, token counts included.
    - `load_messages_from(entry, start)` is `load_messages(entry)[start:]` (0-based): readers that
      follow a growing transcript (the memory index) read only what is new where the backend can.
    - `reset_session` archives the current transcript (kept, not deleted) and points the key at
      a fresh, empty transcript with `new_session_id`; it returns the new entry.
    - A transcript is archived when its key moves to another session id: by `reset_session`,
      or by `put_session` with a new `session_id` for an existing key (see ports/archive.py).
    Backends raise only errors from `rustyclaw.domain.errors` (StorageError and subclasses).
    """

    async def start(self) -> None: ...

    async def aclose(self) -> None: ...

    async def get_session(self, key: str) -> SessionEntry | None: ...

    async def put_session(self, entry: SessionEntry) -> None: ...

    async def list_sessions(self, agent_id: str | None = None) -> list[SessionEntry]: ...

    async def append_messages(
        self, entry: SessionEntry, messages: Sequence[ChatMessage]
    ) -> list[ChatMessage]: ...

    async def load_messages(self, entry: SessionEntry) -> list[ChatMessage]: ...

    async def load_messages_from(self, entry: SessionEntry, start: int) -> list[ChatMessage]: ...

    async def has_inbound(self, entry: SessionEntry, inbound_id: str) -> bool: ...

    async def reset_session(self, key: str, new_session_id: str, now: float) -> SessionEntry: ...


class TurnTailStore(Protocol):
    """Optional: a store that writes a turn's last messages and its session's row in one go.

    `append_and_put(entry, messages)` is `append_messages(entry, messages)` followed by
    `put_session(entry)`, committed together (one transaction, and on SQLite one trip to the
    database thread): the end of every turn writes both, and each separate write cost a commit and
    a round trip (issue #19). Same contract as the two calls; the return value is what
    `append_messages` returns. Stores without it get the two calls (domain/sessions.py).
    """

    async def append_and_put(
        self, entry: SessionEntry, messages: Sequence[ChatMessage]
    ) -> list[ChatMessage]: ...


class InboundLookupStore(Protocol):
    """Optional: a session and whether a message id is in its transcript, in one read.

    `get_session_seen(key, inbound_id)` is `(get_session(key), has_inbound(entry, inbound_id))`
    (False when there is no session): a turn of a message with an id (a chat platform's, an
    Idempotency-Key) asks both first, and each read was a round trip (issue #19).
    """

    async def get_session_seen(self, key: str, inbound_id: str) -> tuple[SessionEntry | None, bool]: ...
