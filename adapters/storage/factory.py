"""Chooses the store backend from the `storage` config section."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rustyclaw.domain.errors import ConfigError
from rustyclaw.ports.storage import StorageBackend

BACKENDS = ("sqlite", "json", "postgres", "memory")


def json_section(storage: Any) -> Any:
    # The pydantic schema names it `json_store` (alias `json`) because `json` shadows BaseModel.json.
    section = getattr(storage, "json_store", None)
    return section if section is not None else storage.json


def open_store(storage: Any, state_dir: Path, backend: str | None = None) -> StorageBackend:
    """An unstarted store for `backend` (default: `storage.backend`); paths default under `state_dir`.

    `storage` has the shape of the config's `storage` section: `backend`, `sqlite.path`,
    `json.dir` and `json.fsync` ("always" | "batch" | "never"), `postgres.dsn`, `postgres.min_size`,
    `postgres.max_size`.
    """
    kind = backend or storage.backend
    state_dir = Path(state_dir).expanduser()
    if kind == "sqlite":
        from rustyclaw.adapters.storage.sqlite import SQLiteStore

        path = Path(storage.sqlite.path or state_dir / "rustyclaw.db").expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        return SQLiteStore(path)
    if kind == "json":
        from rustyclaw.adapters.storage.jsonfile import JsonFileStore

        section = json_section(storage)
        return JsonFileStore(Path(section.dir or state_dir).expanduser(), fsync=section.fsync)
    if kind == "postgres":
        from rustyclaw.adapters.storage.postgres import PostgresStore

        pg = storage.postgres
        return PostgresStore(str(pg.dsn), min_size=pg.min_size, max_size=pg.max_size)
    if kind == "memory":
        from rustyclaw.adapters.storage.memory import MemoryStore

        return MemoryStore()
    raise ConfigError(f"storage.backend: {kind!r} is not one of {', '.join(BACKENDS)}")
