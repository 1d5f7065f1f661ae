"""The turn lock port: one turn at a time per session (aiogram's event isolation, for sessions)."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Protocol


class TurnLock(Protocol):
    """Excludes concurrent turns of one session.

    Contract (tests/contract/test_turn_lock_contract.py):
    - `turn_lock(key)` is held for the whole of a turn; it excludes other turns of the same
      session key in this process and, where the backend can (a flock per session for JSON
      files, an advisory lock for PostgreSQL), in other processes too. Other keys run in parallel.
    - The lock is free again after the block ends, whether normally or by an exception.
    """

    def turn_lock(self, key: str) -> AbstractAsyncContextManager[None]: ...
