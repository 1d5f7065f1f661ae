"""A model loaded on first use and dropped after an idle time, so an idle gateway stays small."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import gc
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Generic, TypeVar

import anyio
import anyio.to_thread

log = logging.getLogger("rustyclaw.voice")

T = TypeVar("T")


def _return_freed_memory() -> None:
    # glibc keeps freed arenas mapped; malloc_trim hands them back so RSS really drops.
    name = ctypes.util.find_library("c")
    if name is None:
        return
    with contextlib.suppress(OSError, AttributeError):  # not glibc
        ctypes.CDLL(name).malloc_trim(0)


class LazyModel(Generic[T]):
    """Holds one model: ``use()`` loads it (in a thread) if needed and keeps it while in use.

    After ``idle_seconds`` without use the model is dropped; ``idle_seconds == 0`` keeps it loaded
    until ``unload``. One inference runs at a time (the machine's cores are the limit anyway).
    """

    def __init__(self, name: str, load: Callable[[], T], idle_seconds: float) -> None:
        self.name = name
        self._load = load
        self.idle_seconds = idle_seconds
        self._model: T | None = None
        self._lock = anyio.Lock()
        self._users = 0
        self._last_used = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self.loads = 0
        self.last_load_seconds = 0.0

    @property
    def loaded(self) -> bool:
        return self._model is not None

    @asynccontextmanager
    async def use(self) -> AsyncIterator[T]:
        async with self._lock:
            if self._model is None:
                started = time.perf_counter()
                self._model = await anyio.to_thread.run_sync(self._load)
                self.last_load_seconds = time.perf_counter() - started
                self.loads += 1
                log.info("%s loaded in %.2f s", self.name, self.last_load_seconds)
            self._users += 1
            try:
                yield self._model
            finally:
                self._users -= 1
                self._last_used = time.monotonic()
                self._schedule_unload()

    def _schedule_unload(self) -> None:
        if self.idle_seconds <= 0:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_later(self.idle_seconds, self._unload_if_idle)

    def _unload_if_idle(self) -> None:
        self._timer = None
        if self._users == 0 and time.monotonic() - self._last_used >= self.idle_seconds * 0.99:
            self.unload()

    def unload(self) -> None:
        """Drops the model now (a running call keeps its reference until it ends)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._model is None:
            return
        self._model = None
        gc.collect()
        _return_freed_memory()
        log.info("%s unloaded after %.0f s idle", self.name, self.idle_seconds)
