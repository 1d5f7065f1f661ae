"""A storage backend: the three storage ports one backend module implements together.

The ports themselves are small and separate: `ports/session_store.py` (SessionStore),
`ports/turn_lock.py` (TurnLock) and `ports/archive.py` (TranscriptArchive, ArchivedTranscript).
Code that needs only one of them takes only that one; the composition root opens one
`StorageBackend` (adapters/storage/factory.py) and hands each consumer the part it needs.
"""

from __future__ import annotations

from typing import Protocol

from rustyclaw.ports import archive, session_store, turn_lock

__all__ = ["StorageBackend"]


class StorageBackend(session_store.SessionStore, turn_lock.TurnLock, archive.TranscriptArchive, Protocol):
    """Sessions, turn locks and archives from one backend (memory, SQLite, JSON files, PostgreSQL)."""
