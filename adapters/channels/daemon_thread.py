"""Runs a slow, uncancellable call (a heavy import) in a daemon thread that shutdown never waits for.

`anyio.to_thread.run_sync` runs in a non-daemon worker: the interpreter joins it at exit, so a
SIGTERM that arrives while aiogram or hikari is being imported waits for the import to finish
(seconds on a small machine). Here the call runs in a daemon thread and the caller awaits a future:
a cancelled caller stops waiting at once, and the process can exit while the thread still works.
Only for calls that are safe to abandon halfway (an import holds nothing the process must release).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


async def run_in_daemon_thread(func: Callable[[], T], *, name: str) -> T:
    """`func()` in a new daemon thread; its result or exception, or CancelledError at once when cancelled."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(result: T | None, error: BaseException | None) -> None:
        if future.done():  # the caller was cancelled meanwhile
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)  # type: ignore[arg-type]

    def work() -> None:
        result: T | None = None
        error: BaseException | None = None
        try:
            result = func()
        except BaseException as exc:  # handed to the awaiting task, which re-raises it
            error = exc
        with contextlib.suppress(RuntimeError):  # the loop closed while the thread worked
            loop.call_soon_threadsafe(settle, result, error)

    threading.Thread(target=work, name=name, daemon=True).start()
    return await future
