"""The TurnLock contract (ports/turn_lock.py), run against every backend in backends.py."""

from __future__ import annotations

import anyio
import pytest

from rustyclaw.ports.turn_lock import TurnLock

pytestmark = pytest.mark.anyio


async def test_turn_lock_excludes_the_same_key_and_not_others(store: TurnLock) -> None:
    log: list[str] = []
    a_holding = anyio.Event()
    release_a = anyio.Event()
    b_done = anyio.Event()

    async def turn_a() -> None:
        async with store.turn_lock("agent:main:a"):
            log.append("a1 in")
            a_holding.set()
            await release_a.wait()
            log.append("a1 out")

    async def second_turn_a() -> None:
        async with store.turn_lock("agent:main:a"):
            log.append("a2 in")

    async def turn_b() -> None:
        async with store.turn_lock("agent:main:b"):
            log.append("b in")
        b_done.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(turn_a)
        await a_holding.wait()
        tg.start_soon(second_turn_a)
        tg.start_soon(turn_b)
        await b_done.wait()
        await anyio.wait_all_tasks_blocked()
        # b ran while a was held; the second turn of a is still waiting.
        assert log == ["a1 in", "b in"]
        release_a.set()
    assert log == ["a1 in", "b in", "a1 out", "a2 in"]


async def test_turn_lock_is_free_again_after_an_error(store: TurnLock) -> None:
    with pytest.raises(RuntimeError):
        async with store.turn_lock("agent:main:a"):
            raise RuntimeError("turn failed")
    with anyio.fail_after(5):
        async with store.turn_lock("agent:main:a"):
            pass
