"""The transcript archive port: transcripts a reset moved aside, listed, read and imported."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import msgspec

from rustyclaw.domain.messages import ChatMessage


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


class TranscriptArchive(Protocol):
    """Archived transcripts (`storage copy`, the OpenClaw import, `sessions` tools).

    Contract (tests/contract/test_archive_contract.py):
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
    """

    async def list_archived(self, agent_id: str | None = None) -> list[ArchivedTranscript]: ...

    async def load_archived(self, archived: ArchivedTranscript) -> list[ChatMessage]: ...

    async def import_archived(self, archived: ArchivedTranscript, messages: Sequence[ChatMessage]) -> None: ...
