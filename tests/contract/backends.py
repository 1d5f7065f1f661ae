"""The storage backends the contract suite runs against.

Adding a backend is one entry in BACKENDS:

    pytest.param(directory_backend(lambda path: JsonFileStore(path)), id="json"),

A backend is a function `(tmp_path) -> async context manager` that prepares one empty location
(a folder, a database schema, ...) for one test, yields an `Opener`, and cleans the location up
afterwards. An `Opener` returns a new, not yet started store on that location each time it is
called; the suite starts and closes the stores itself and opens a second one to check that data
survives a reopen.

- A store that lives in a folder or file: wrap a one-line lambda in `directory_backend`.
- A store that needs setup (PostgreSQL: create a schema, drop it afterwards): write an
  `@asynccontextmanager async def x_backend(tmp_path) -> AsyncIterator[Opener]` and add
  `pytest.param(x_backend, id="x", marks=pytest.mark.postgres)`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import pytest

from rustyclaw.adapters.storage.jsonfile import JsonFileStore
from rustyclaw.adapters.storage.memory import MemoryData, MemoryStore
from rustyclaw.adapters.storage.postgres import PostgresStore
from rustyclaw.adapters.storage.sqlite import SQLiteStore
from rustyclaw.ports.storage import StorageBackend
from tests.fixtures.postgres_schema import temporary_schema

Opener = Callable[[], StorageBackend]
Backend = Callable[[Path], AbstractAsyncContextManager[Opener]]


def directory_backend(make: Callable[[Path], StorageBackend]) -> Backend:
    """A backend whose stores are `make(folder)` on a fresh folder under tmp_path."""

    @asynccontextmanager
    async def backend(tmp_path: Path) -> AsyncIterator[Opener]:
        folder = tmp_path / "store"
        yield lambda: make(folder)

    return backend


@asynccontextmanager
async def memory_backend(tmp_path: Path) -> AsyncIterator[Opener]:
    data = MemoryData()
    yield lambda: MemoryStore(data)


@asynccontextmanager
async def postgres_backend(tmp_path: Path) -> AsyncIterator[Opener]:
    async with temporary_schema("contract") as dsn:
        yield lambda: PostgresStore(dsn, min_size=1, max_size=4)


BACKENDS: list[object] = [
    pytest.param(memory_backend, id="memory"),
    pytest.param(directory_backend(lambda path: SQLiteStore(path / "rustyclaw.db")), id="sqlite"),
    pytest.param(directory_backend(lambda path: JsonFileStore(path)), id="json"),
    pytest.param(postgres_backend, id="postgres", marks=pytest.mark.postgres),
]
