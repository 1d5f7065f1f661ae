"""Crash safety of every durable backend: a writer process is SIGKILLed in the middle of a stream
of appends; a store opened afterwards holds every acknowledged message, in order, and loads
cleanly (no corrupt file or table; for JSON no damage to repair, since a killed process cannot
tear a write that the kernel already accepted)."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from rustyclaw.domain.messages import ChatMessage
from rustyclaw.ports.storage import StorageBackend
from tests.fixtures.postgres_schema import temporary_schema
from tests.integration.store_writer import make_store

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2]
KEY = "agent:main:crash:direct:1"
ACKS_BEFORE_KILL = 300


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def run_writer_and_kill(backend: str, location: str, key: str = KEY, acks: int = ACKS_BEFORE_KILL) -> list[str]:
    """Start the writer, SIGKILL it once it acknowledged `acks` messages; every id it acknowledged."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.store_writer", backend, location, key],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    acked: list[str] = []
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first == "ready\n", f"writer did not start: {first!r} {proc.stderr.read() if proc.stderr else ''}"
        while len(acked) < acks:
            line = proc.stdout.readline()
            if not line:
                break
            acked.append(line.split()[1])
        proc.send_signal(signal.SIGKILL)
        # Acknowledgements already in the pipe when the kill landed count too. They are read through
        # the same text wrapper: communicate() would read the raw pipe and miss what it buffered.
        rest = proc.stdout.read()
        acked.extend(line.split()[1] for line in rest.splitlines() if line.startswith("ack "))
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
    assert proc.returncode == -signal.SIGKILL, "the writer stopped before it was killed"
    return acked


async def check_after_crash(store: StorageBackend, acked: list[str], key: str = KEY) -> None:
    await store.start()
    try:
        entry = await store.get_session(key)
        assert entry is not None
        loaded = [m.id for m in await store.load_messages(entry)]
        # Every acknowledged message, in order; at most the one batch in flight beyond them.
        assert loaded[: len(acked)] == acked
        assert len(loaded) - len(acked) <= 4
        assert loaded == sorted(loaded)
        # The store still works: the next append lands after what survived.
        nxt = await store.append_messages(entry, [])
        assert nxt == []
        await store.append_messages(entry, [ChatMessage(role="user", content="after", id="z-after")])
        assert [m.id for m in await store.load_messages(entry)][-1] == "z-after"
    finally:
        await store.aclose()


async def test_sqlite_survives_sigkill(tmp_path: Path) -> None:
    db = tmp_path / "crash.db"
    acked = await anyio.to_thread.run_sync(run_writer_and_kill, "sqlite", str(db))
    assert len(acked) >= ACKS_BEFORE_KILL
    store = make_store("sqlite", str(db))
    await check_after_crash(store, acked)
    import sqlite3

    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)


@pytest.mark.parametrize("policy", ["always", "batch", "never"])
async def test_json_survives_sigkill(tmp_path: Path, policy: str) -> None:
    from rustyclaw.adapters.storage.jsonfile import JsonFileStore

    acked = await anyio.to_thread.run_sync(run_writer_and_kill, f"json-{policy}", str(tmp_path))
    store = JsonFileStore(tmp_path, fsync=policy)
    await check_after_crash(store, acked)
    assert store.damage == []
    transcript = tmp_path / "agents" / "main" / "sessions" / "crash-1.jsonl"
    assert transcript.read_bytes().endswith(b"\n")
    assert not transcript.with_name("crash-1.jsonl.damaged").exists()


@pytest.mark.postgres
async def test_postgres_survives_sigkill() -> None:
    async with temporary_schema("crash") as dsn:
        acked = await anyio.to_thread.run_sync(run_writer_and_kill, "postgres", dsn)
        await check_after_crash(make_store("postgres", dsn), acked)


async def test_two_json_writers_on_one_folder_killed_together(tmp_path: Path) -> None:
    """Two processes appending to different sessions in one agent folder, both killed."""
    keys = ["agent:main:crash:direct:1", "agent:main:crash:direct:2"]
    results: dict[str, list[str]] = {}

    async def one(key: str) -> None:
        results[key] = await anyio.to_thread.run_sync(run_writer_and_kill, "json-batch", str(tmp_path), key, 200)

    async with anyio.create_task_group() as tg:
        for key in keys:
            tg.start_soon(one, key)
    from rustyclaw.adapters.storage.jsonfile import JsonFileStore

    for key in keys:
        await check_after_crash(JsonFileStore(tmp_path), results[key], key)
    store = JsonFileStore(tmp_path)
    await store.start()
    try:
        assert {e.key for e in await store.list_sessions()} == set(keys)
    finally:
        await store.aclose()
