"""Chooses the store backend from the `storage` config section."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rustyclaw.domain.errors import ConfigError
from rustyclaw.ports.storage import SessionStore


def open_store(storage: Any, state_dir: Path, backend: str | None = None) -> SessionStore:
    """An unstarted store for `backend` (default: `storage.backend`); paths default under `state_dir`."""
    kind = backend or storage.backend
    if kind == "sqlite":
        from rustyclaw.adapters.storage.sqlite import SQLiteStore

        path = storage.sqlite.path or state_dir / "rustyclaw.db"
        Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
        return SQLiteStore(Path(path).expanduser())
    if kind == "memory":
        from rustyclaw.adapters.storage.memory import MemoryStore

        return MemoryStore()
    raise ConfigError(f"storage.backend: {kind!r} is not available in this build")
