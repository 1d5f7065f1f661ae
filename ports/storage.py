"""Where sessions and their transcripts live (SQLite, JSON files, PostgreSQL, memory)."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import Protocol

import msgspec

from rustyclaw.domain.messages import ChatMessage, SessionEntry


class ArchivedTranscript(msgspec.Struct, frozen=True, kw_only=True):
    """A transcript a session key had before a reset moved it to a new session id.

    `archived_at` is the time of the reset (Unix seconds); `created_at` is when the transcript
    began (the entry's `created_at` at the time, 0.0 where the backend cannot tell).
    """

    session_key: str
    session_id: str
    agent_id: str = "main"
    archived_at: float = 0.0
    created_at: float = 0.0


class SessionStore(Protocol):
    """Durable session index plus append-only transcripts.

    Contract (tests/contract/test_store_contract.py runs it against every backend):
    - `start()` connects, applies pending migrations and refuses a schema newer than it knows
      (`SchemaVersionError`); `aclose()` releases everything and is idempotent.
    - `put_session` creates or replaces the index entry for `entry.key`.
    - `append_messages` is durable when it returns; messages keep their order; each gets a
      non-empty `id` if it had none. A message whose `inbound_id` is already stored in the same
      session is skipped; the return value is the list actually stored.
    - `load_messages` returns the session's transcript in append order, token counts included.
    - `reset_session` archives the current transcript (kept, not deleted) and points the key at
      a fresh, empty transcript with `new_session_id`; it returns the new entry.
    - A transcript is archived when its key moves to another session id: by `reset_session`,
      or by `put_session` with a new `session_id` for an existing key.
    - `list_archived(agent_id=None)` lists the archived transcripts that hold at least one
      message (of one agent, or all), ordered by (session_key, archived_at, session_id), each
      with the key it belonged to. A key reset several times has one entry per reset. Archives
      that record no key (OpenClaw's own `.jsonl.reset.*` files in the JSON backend) get the
      key `agent:<agentId>:archived:<sessionId>`. A session id is live or archived, never both.
    - `load_archived(archived)` returns that transcript's messages in append order (what
      `load_messages` returns for an entry with its session id), `[]` if it holds none.
    - `import_archived(archived, messages)` writes an archived transcript directly (copy and
      import), without touching the index: messages already stored in that transcript (same
      `id`) are skipped, the rest are added after them in order, so a repeated or resumed import
      stores everything once. It refuses (StorageError) a session id that is live in this store.
      Messages without an `id` get one, so only messages that have ids import idempotently.
      An empty `messages` stores nothing.
    - `turn_lock(key)` is held for the whole of a turn; it excludes other turns of the same
      session in this process and, where the backend can, in other processes too.
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

    async def has_inbound(self, entry: SessionEntry, inbound_id: str) -> bool: ...

    async def reset_session(self, key: str, new_session_id: str, now: float) -> SessionEntry: ...

    def turn_lock(self, key: str) -> AbstractAsyncContextManager[None]: ...

    async def list_archived(self, agent_id: str | None = None) -> list[ArchivedTranscript]: ...

    async def load_archived(self, archived: ArchivedTranscript) -> list[ChatMessage]: ...

    async def import_archived(self, archived: ArchivedTranscript, messages: Sequence[ChatMessage]) -> None: ...
