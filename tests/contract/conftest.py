"""Fixtures of the storage contract suites: one `store` (a StorageBackend) per registered backend."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from rustyclaw.ports.storage import StorageBackend

from .backends import BACKENDS, Backend, Opener


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=BACKENDS)
async def opener(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Opener]:
    backend: Backend = request.param
    async with backend(tmp_path) as open_store:
        yield open_store


@pytest.fixture
async def store(opener: Opener) -> AsyncIterator[StorageBackend]:
    started = opener()
    await started.start()
    try:
        yield started
    finally:
        await started.aclose()
