"""Backend-neutral schema migrations: SQL files `rustyclaw.migrations/<backend>/NNN_name.sql`.

A backend supplies a `MigrationTarget` (read the current version, apply one migration in one
transaction) and calls `migrate(target, discover("<backend>"), where=...)` from its `start()`.
Versions are recorded in a `schema_version` table (version, name, applied_at).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import Protocol

from rustyclaw.domain.errors import RustyClawError, SchemaVersionError, StorageError

# Portable between SQLite and PostgreSQL; applied_at is Unix seconds like every other timestamp.
SCHEMA_VERSION_DDL = (
    "CREATE TABLE IF NOT EXISTS schema_version ("
    "version INTEGER PRIMARY KEY, "
    "name TEXT NOT NULL, "
    "applied_at DOUBLE PRECISION NOT NULL)"
)

_FILE_NAME = re.compile(r"^(\d{3,})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    """One SQL file: applied when the database's version is below `version`."""

    version: int
    name: str
    sql: str

    @property
    def label(self) -> str:
        return f"{self.version:03d}_{self.name}"


class MigrationTarget(Protocol):
    """What the runner needs from a backend's connection.

    `current_version()` creates the version table if missing and returns its highest version
    (0 for a new database). `apply(m)` runs `m.sql` and records `m` in one transaction; it must
    re-read the version inside that transaction (under the backend's write lock) and return
    False without running anything if another process applied `m` first.
    """

    async def current_version(self) -> int: ...

    async def apply(self, migration: Migration) -> bool: ...


def discover(backend: str, root: Traversable | None = None) -> list[Migration]:
    """The migrations shipped for `backend` (or found in `root`), sorted by version."""
    folder = root if root is not None else files("rustyclaw.migrations") / backend
    if not folder.is_dir():
        raise StorageError(f"no migrations folder for the {backend!r} backend at {folder}")
    found: dict[int, Migration] = {}
    for item in folder.iterdir():
        if not item.name.endswith(".sql"):
            continue
        match = _FILE_NAME.match(item.name)
        if match is None:
            raise StorageError(
                f"migration file {item.name!r} in {folder} is not named NNN_lowercase_name.sql"
            )
        version = int(match.group(1))
        if version in found:
            raise StorageError(
                f"migrations {found[version].label}.sql and {item.name} in {folder} share version {version}"
            )
        found[version] = Migration(version, match.group(2), item.read_text(encoding="utf-8"))
    return [found[version] for version in sorted(found)]


def check_not_newer(current: int, migrations: Sequence[Migration], where: str) -> None:
    known = migrations[-1].version if migrations else 0
    if current > known:
        raise SchemaVersionError(
            f"database {where} is at schema version {current}, this RustyClaw knows up to {known}; "
            "upgrade RustyClaw"
        )


async def migrate(target: MigrationTarget, migrations: Sequence[Migration], where: str) -> list[Migration]:
    """Apply the pending migrations in order; return those this call applied.

    Raises SchemaVersionError when the database is newer than the newest migration known here.
    A failing migration leaves the database at the previous version (its transaction rolls back).
    """
    ordered = sorted(migrations, key=lambda m: m.version)
    current = await target.current_version()
    check_not_newer(current, ordered, where)
    applied: list[Migration] = []
    for migration in ordered:
        if migration.version <= current:
            continue
        try:
            done = await target.apply(migration)
        except RustyClawError:
            raise
        except Exception as exc:
            raise StorageError(f"migration {migration.label} failed on {where}: {exc}") from exc
        if done:
            applied.append(migration)
    return applied
