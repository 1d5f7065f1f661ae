"""Chooses the store backend from the `storage` config section."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rustyclaw.config.schema import StorageConfig
from rustyclaw.domain.errors import ConfigError
from rustyclaw.ports.clock import Clock
from rustyclaw.ports.storage import StorageBackend

if TYPE_CHECKING:
    from rustyclaw.adapters.storage.shared_state import SharedState

BACKENDS = ("sqlite", "json", "postgres", "memory")


def open_store(storage: StorageConfig, state_dir: Path, backend: str | None = None) -> StorageBackend:
    """An unstarted store for `backend` (default: `storage.backend`); paths default under `state_dir`."""
    kind = backend or storage.backend
    state_dir = Path(state_dir).expanduser()
    if kind == "sqlite":
        from rustyclaw.adapters.storage.sqlite import SQLiteStore

        path = Path(storage.sqlite.path or state_dir / "rustyclaw.db").expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        return SQLiteStore(path)
    if kind == "json":
        from rustyclaw.adapters.storage.jsonfile import JsonFileStore

        section = storage.json_store  # `json` in the file; the attribute would shadow BaseModel.json
        return JsonFileStore(Path(section.dir or state_dir).expanduser(), fsync=section.fsync)
    if kind == "postgres":
        from rustyclaw.adapters.storage.postgres import PostgresStore

        pg = storage.postgres
        return PostgresStore(str(pg.dsn), min_size=pg.min_size, max_size=pg.max_size)
    if kind == "memory":
        from rustyclaw.adapters.storage.memory import MemoryStore

        return MemoryStore()
    raise ConfigError(f"storage.backend: {kind!r} is not one of {', '.join(BACKENDS)}")


def open_shared_state(storage: StorageConfig, state_dir: Path, clock: Clock) -> SharedState:
    """Pairing, rate limits, audit, cron state and plugin storage for `storage.backend`, unstarted:
    in PostgreSQL for `postgres` (replicas share them), else in the state folder and memory."""
    from rustyclaw.adapters.storage.shared_state import local_shared_state, postgres_shared_state

    if storage.backend == "postgres":
        pg = storage.postgres
        return postgres_shared_state(str(pg.dsn), clock, min_size=pg.min_size)
    return local_shared_state(Path(state_dir).expanduser(), clock)
