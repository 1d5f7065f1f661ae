"""An OpenClaw state folder as a read-only SessionStore: the source of `storage import-openclaw`.

Both layouts are detected here:
- SQLite era (2026.7.2 and later): the per-agent DBs listed in `state/openclaw.sqlite`
  (openclaw_sqlite.py); 2026.7.1 already has that global DB, for pairing and cron only;
- classic (up to 2026.7.1): `agents/<agentId>/sessions/sessions.json` and the JSONL
  transcripts, read by the JSON store in read-only mode.

A folder with neither is refused with a StorageError naming what was looked for, so an import
of the wrong folder never reports "0 sessions" as a success. The copy itself (resume,
verification, counts) is transfer.copy_store's.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Literal

import anyio

from rustyclaw.adapters.storage.openclaw_sqlite import SqliteState, has_sqlite_state, read_state
from rustyclaw.domain.errors import StorageError
from rustyclaw.domain.messages import ChatMessage, SessionEntry
from rustyclaw.ports.archive import ArchivedTranscript
from rustyclaw.ports.storage import StorageBackend

Layout = Literal["sqlite", "classic"]


def detect_layout(state_dir: Path) -> Layout:
    """Which OpenClaw layout `state_dir` holds; StorageError when it holds none."""
    if not state_dir.is_dir():
        raise StorageError(f"{state_dir} is not a folder (expected an OpenClaw state folder such as ~/.openclaw)")
    if has_sqlite_state(state_dir):
        return "sqlite"
    if any((state_dir / "agents").glob("*/sessions/sessions.json")):
        return "classic"
    raise StorageError(
        f"{state_dir} holds no OpenClaw state: looked for agents/<agentId>/agent/openclaw-agent.sqlite "
        "(OpenClaw 2026.7.2 and later, listed in state/openclaw.sqlite) and "
        "agents/<agentId>/sessions/sessions.json (earlier releases)"
    )


class _ReadOnlyError(StorageError):
    pass


class SqliteStateSource:
    """The sessions and archives of a SQLite-era folder, read once at `start()`."""

    def __init__(self, state_dir: Path) -> None:
        self._dir = state_dir
        self._state = SqliteState()

    @property
    def skipped(self) -> list[str]:
        return list(self._state.skipped)

    async def start(self) -> None:
        self._state = await anyio.to_thread.run_sync(read_state, self._dir)

    async def aclose(self) -> None:
        return None

    async def get_session(self, key: str) -> SessionEntry | None:
        return next((e for e in self._state.sessions if e.key == key), None)

    async def list_sessions(self, agent_id: str | None = None) -> list[SessionEntry]:
        return [e for e in self._state.sessions if agent_id is None or e.agent_id == agent_id]

    async def load_messages(self, entry: SessionEntry) -> list[ChatMessage]:
        mine = await self.get_session(entry.key)
        if mine is None or mine.session_id != entry.session_id:
            return []
        return list(self._state.transcripts.get(entry.key, []))

    async def load_messages_from(self, entry: SessionEntry, start: int) -> list[ChatMessage]:
        return (await self.load_messages(entry))[max(0, start):]

    async def has_inbound(self, entry: SessionEntry, inbound_id: str) -> bool:
        return any(m.inbound_id == inbound_id for m in await self.load_messages(entry))

    async def list_archived(self, agent_id: str | None = None) -> list[ArchivedTranscript]:
        found = [a for a, _ in self._state.archives if agent_id is None or a.agent_id == agent_id]
        return sorted(found, key=lambda a: (a.session_key, a.archived_at, a.session_id))

    async def load_archived(self, archived: ArchivedTranscript) -> list[ChatMessage]:
        for record, messages in self._state.archives:
            if record.session_id == archived.session_id and record.archived_at == archived.archived_at:
                return list(messages)
        return []

    # An OpenClaw folder is never written.
    async def put_session(self, entry: SessionEntry) -> None:
        raise _ReadOnlyError("the OpenClaw state is opened read-only")

    async def append_messages(self, entry: SessionEntry, messages: Sequence[ChatMessage]) -> list[ChatMessage]:
        raise _ReadOnlyError("the OpenClaw state is opened read-only")

    async def reset_session(self, key: str, new_session_id: str, now: float) -> SessionEntry:
        raise _ReadOnlyError("the OpenClaw state is opened read-only")

    async def import_archived(self, archived: ArchivedTranscript, messages: Sequence[ChatMessage]) -> None:
        raise _ReadOnlyError("the OpenClaw state is opened read-only")

    def turn_lock(self, key: str) -> AbstractAsyncContextManager[None]:
        raise _ReadOnlyError("the OpenClaw state is opened read-only")


def open_source(state_dir: Path) -> tuple[Layout, StorageBackend]:
    """The read-only store over an OpenClaw folder (not started yet) and the layout found."""
    layout = detect_layout(state_dir)
    if layout == "sqlite":
        return layout, SqliteStateSource(state_dir)
    from rustyclaw.adapters.storage.jsonfile import JsonFileStore

    return layout, JsonFileStore(state_dir, fsync="never", read_only=True)
