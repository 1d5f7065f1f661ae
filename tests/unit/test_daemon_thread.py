"""run_in_daemon_thread: results and errors come back; a cancelled caller never waits for the thread."""

from __future__ import annotations

import subprocess
import sys
import threading

import anyio
import pytest

from rustyclaw.adapters.channels.daemon_thread import run_in_daemon_thread

pytestmark = pytest.mark.anyio


async def test_the_result_and_the_exception_come_back() -> None:
    assert await run_in_daemon_thread(lambda: threading.current_thread().daemon, name="t") is True

    def fail() -> None:
        raise LookupError("from the thread")

    with pytest.raises(LookupError, match="from the thread"):
        await run_in_daemon_thread(fail, name="t")


async def test_cancelling_the_caller_does_not_wait_for_the_call() -> None:
    release = threading.Event()
    entered = threading.Event()
    outcome: list[str] = []

    def blocked() -> str:
        entered.set()
        release.wait(30)
        return "late"

    async def caller() -> None:
        try:
            await run_in_daemon_thread(blocked, name="blocked")
        except anyio.get_cancelled_exc_class():
            outcome.append("cancelled")
            raise

    async with anyio.create_task_group() as tg:
        tg.start_soon(caller)
        await anyio.to_thread.run_sync(entered.wait)
        tg.cancel_scope.cancel()
    # The task group is done although the thread is still inside the call.
    assert outcome == ["cancelled"]
    assert not release.is_set()
    release.set()


def test_the_process_exits_while_the_thread_is_still_working() -> None:
    code = (
        "import asyncio, time\n"
        "from rustyclaw.adapters.channels.daemon_thread import run_in_daemon_thread\n"
        "async def main():\n"
        "    task = asyncio.create_task(run_in_daemon_thread(lambda: time.sleep(3600), name='slow'))\n"
        "    await asyncio.sleep(0)\n"
        "    task.cancel()\n"
        "asyncio.run(main())\n"
        "print('exited')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    # An hour-long call in a non-daemon thread would keep the interpreter past the 60 s timeout.
    assert done.stdout.strip() == "exited"
