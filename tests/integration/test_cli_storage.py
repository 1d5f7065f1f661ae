"""`rustyclaw storage copy` and `storage import-openclaw` as a user runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import anyio
import yaml

from rustyclaw.adapters.storage.jsonfile import JsonFileStore
from rustyclaw.adapters.storage.sqlite import SQLiteStore
from rustyclaw.domain.messages import ChatMessage, SessionEntry
from rustyclaw.ports.storage import StorageBackend


async def fill(store: StorageBackend, sessions: int, messages: int) -> None:
    await store.start()
    try:
        for s in range(sessions):
            entry = SessionEntry(key=f"agent:main:web:direct:u{s}", session_id=f"sid-{s}", updated_at=1.0)
            await store.put_session(entry)
            await store.append_messages(entry, [
                ChatMessage(role="user" if m % 2 == 0 else "assistant", content=f"m{m}", tokens=1)
                for m in range(messages)
            ])
    finally:
        await store.aclose()


async def count(store: StorageBackend) -> tuple[int, int]:
    await store.start()
    try:
        entries = await store.list_sessions()
        return len(entries), sum([len(await store.load_messages(e)) for e in entries])
    finally:
        await store.aclose()


def cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"gateway": {"stateDir": str(tmp_path / "state")}}))
    env = {**os.environ, "RUSTYCLAW_HOME": str(tmp_path)}
    return subprocess.run([sys.executable, "-m", "rustyclaw", "storage", *args, "--config", str(config)],
                          capture_output=True, text=True, env=env, timeout=120)


def test_copy_from_sqlite_to_json_moves_everything_and_is_resumable(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    anyio.run(fill, SQLiteStore(state / "rustyclaw.db"), 3, 4)
    first = cli(tmp_path, "copy", "--from", "sqlite", "--to", "json")
    assert first.returncode == 0, first.stderr
    assert "counts verified" in first.stdout and "copied 12 messages in 3 sessions" in first.stdout
    assert anyio.run(count, JsonFileStore(state)) == (3, 12)
    assert (state / "agents" / "main" / "sessions" / "sessions.json").is_file()
    again = cli(tmp_path, "copy", "--from", "sqlite", "--to", "json")
    assert again.returncode == 0 and "copied 0 messages" in again.stdout


async def reset_one(store: StorageBackend) -> None:
    """A /new on the first session: its 4 messages are archived, 1 new message follows."""
    await store.start()
    try:
        fresh = await store.reset_session("agent:main:web:direct:u0", "sid-0-new", 2.5)
        await store.append_messages(fresh, [ChatMessage(role="user", content="after reset")])
    finally:
        await store.aclose()


async def archives(store: StorageBackend) -> list[tuple[str, str, list[str]]]:
    await store.start()
    try:
        return [
            (a.session_key, a.session_id, [m.content for m in await store.load_archived(a)])
            for a in await store.list_archived()
        ]
    finally:
        await store.aclose()


def test_copy_brings_the_transcripts_a_reset_archived(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    anyio.run(fill, SQLiteStore(state / "rustyclaw.db"), 2, 4)
    anyio.run(reset_one, SQLiteStore(state / "rustyclaw.db"))
    first = cli(tmp_path, "copy", "--from", "sqlite", "--to", "json")
    assert first.returncode == 0, first.stderr
    assert "copied 5 messages in 2 sessions" in first.stdout
    assert "1 archived transcripts, 4 messages: copied 4 messages in 1 archives" in first.stdout
    copied = anyio.run(archives, JsonFileStore(state))
    assert copied == [("agent:main:web:direct:u0", "sid-0", ["m0", "m1", "m2", "m3"])]
    assert list((state / "agents" / "main" / "sessions").glob("sid-0.jsonl.reset.*"))
    again = cli(tmp_path, "copy", "--from", "sqlite", "--to", "json")
    assert again.returncode == 0, again.stderr
    assert "copied 0 messages in 0 archives; 4 messages and 1 archives were already there" in again.stdout


def test_import_of_an_openclaw_state_folder(tmp_path: Path) -> None:
    openclaw = tmp_path / "openclaw"
    anyio.run(fill, JsonFileStore(openclaw), 2, 3)
    result = cli(tmp_path, "import-openclaw", str(openclaw), "--to", "sqlite")
    assert result.returncode == 0, result.stderr
    assert anyio.run(count, SQLiteStore(tmp_path / "state" / "rustyclaw.db")) == (2, 6)


def test_a_bad_backend_name_is_refused_by_the_parser(tmp_path: Path) -> None:
    result = cli(tmp_path, "copy", "--from", "sqlite", "--to", "mongo")
    assert result.returncode == 2 and "invalid choice: 'mongo'" in result.stderr
