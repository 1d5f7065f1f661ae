"""Two gateways on one JSON folder: file locks keep the files whole and turns exclusive."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from rustyclaw.adapters.storage.jsonfile import JsonFileStore

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2]
KEY = "agent:main:shared:direct:1"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def run_writer(folder: Path, prefix: str, limit: int) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-m", "tests.integration.store_writer", "json-batch", str(folder), KEY, prefix, str(limit)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return [line.split()[1] for line in done.stdout.splitlines() if line.startswith("ack ")]


async def test_two_processes_appending_to_one_session(tmp_path: Path) -> None:
    acked: dict[str, list[str]] = {}

    async def writer(prefix: str) -> None:
        acked[prefix] = await anyio.to_thread.run_sync(run_writer, tmp_path, prefix, 400)

    async with anyio.create_task_group() as tg:
        tg.start_soon(writer, "a")
        tg.start_soon(writer, "b")

    store = JsonFileStore(tmp_path)
    await store.start()
    entry = await store.get_session(KEY)
    assert entry is not None
    ids = [m.id for m in await store.load_messages(entry)]
    await store.aclose()
    assert len(acked["a"]) >= 400 and len(acked["b"]) >= 400
    assert len(ids) == len(set(ids)) == len(acked["a"]) + len(acked["b"])
    # Each writer's messages, in its own order.
    assert [i for i in ids if i.startswith("a")] == acked["a"]
    assert [i for i in ids if i.startswith("b")] == acked["b"]
    # One unbroken chain: every entry's parent is the entry before it, whoever wrote it.
    path = tmp_path / "agents" / "main" / "sessions" / f"{entry.session_id}.jsonl"
    entries = [json.loads(line) for line in path.read_text().splitlines()[1:]]
    assert [e["parentId"] for e in entries] == [None] + [e["id"] for e in entries[:-1]]


async def test_turn_lock_excludes_another_store_on_the_same_folder(tmp_path: Path) -> None:
    first, second = JsonFileStore(tmp_path), JsonFileStore(tmp_path)
    await first.start()
    await second.start()
    order: list[str] = []
    held, release = anyio.Event(), anyio.Event()

    async def holder() -> None:
        async with first.turn_lock(KEY):
            order.append("first in")
            held.set()
            await release.wait()
            order.append("first out")

    async def contender() -> None:
        async with second.turn_lock(KEY):
            order.append("second in")

    async with anyio.create_task_group() as tg:
        tg.start_soon(holder)
        await held.wait()
        tg.start_soon(contender)
        with anyio.fail_after(5):
            async with second.turn_lock("agent:main:other"):
                order.append("other key")
        await anyio.sleep(0.3)
        assert order == ["first in", "other key"]
        release.set()
    assert order == ["first in", "other key", "first out", "second in"]
    await first.aclose()
    await second.aclose()


HOLD_TURN = """
import sys, anyio
from rustyclaw.adapters.storage.jsonfile import JsonFileStore

async def main():
    store = JsonFileStore(sys.argv[1])
    await store.start()
    async with store.turn_lock(sys.argv[2]):
        print("locked", flush=True)
        await anyio.sleep(600)

anyio.run(main)
"""


def start_turn_holder(folder: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", HOLD_TURN, str(folder), KEY], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )


async def test_turn_lock_of_a_killed_process_is_released(tmp_path: Path) -> None:
    proc = start_turn_holder(tmp_path)
    try:
        assert proc.stdout is not None
        assert await anyio.to_thread.run_sync(proc.stdout.readline) == "locked\n"
        store = JsonFileStore(tmp_path)
        await store.start()
        with anyio.move_on_after(0.5) as waited:
            async with store.turn_lock(KEY):
                pass
        assert waited.cancelled_caught, "took a turn lock that another process holds"
        proc.kill()
        with anyio.fail_after(10):
            async with store.turn_lock(KEY):
                pass
        await store.aclose()
    finally:
        proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
