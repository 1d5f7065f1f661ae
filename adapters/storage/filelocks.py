"""Cross-process file locks (flock) for the JSON store, awaited without blocking the event loop.

flock locks belong to an open file description, so two opens of one file exclude each other even
inside one process; the store pairs every flock with an in-process lock taken first, so tasks of
one process queue on the cheap lock and only one of them polls the file lock.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio

from rustyclaw.domain.errors import StorageUnavailableError

# Waiting for another process: start fast (its write takes microseconds), back off for turns.
_FIRST_WAIT = 0.001
_LONGEST_WAIT = 0.05


def try_flock(fd: int, exclusive: bool = True) -> bool:
    try:
        fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


async def wait_flock(fd: int, exclusive: bool = True) -> None:
    """Take the lock, polling with backoff: a waiter stays cancellable and holds no thread."""
    wait = _FIRST_WAIT
    while not try_flock(fd, exclusive):
        await anyio.sleep(wait)
        wait = min(wait * 2, _LONGEST_WAIT)


def unlock(fd: int) -> None:
    fcntl.flock(fd, fcntl.LOCK_UN)


def open_lock_file(path: Path) -> int:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise StorageUnavailableError(f"cannot open lock file {path}: {exc}") from exc


@asynccontextmanager
async def held_file_lock(path: Path) -> AsyncIterator[None]:
    """An exclusive flock on `path` (created if missing) for the duration of the block."""
    fd = open_lock_file(path)
    try:
        await wait_flock(fd)
        try:
            yield
        finally:
            unlock(fd)
    finally:
        os.close(fd)
