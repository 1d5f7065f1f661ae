"""RustyClaw's JSON store sharing a state folder with a running OpenClaw (issue #11, part 5).

OpenClaw rewrites transcripts in place (same inode) and updates `updatedAt` /
`sessionStartedAt` in sessions.json. The store must re-read a rewritten transcript instead of
failing on a line boundary that moved, and must follow OpenClaw's own time fields.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from rustyclaw.adapters.storage.jsonfile import JsonFileStore
from rustyclaw.domain.messages import ChatMessage, SessionEntry

pytestmark = pytest.mark.anyio

KEY = "agent:main:telegram:direct:42"


def _entry(**fields: object) -> SessionEntry:
    values: dict[str, object] = {"key": KEY, "session_id": "s-1", "created_at": 1_767_225_600.0}
    values["updated_at"] = 1_767_225_600.0
    values.update(fields)
    return SessionEntry(**values)  # type: ignore[arg-type]


def _index_path(root: Path) -> Path:
    return root / "agents" / "main" / "sessions" / "sessions.json"


def _rewrite_in_place(path: Path, change: dict[int, str]) -> None:
    """What OpenClaw does to a transcript it edits: the same file (inode) truncated and rewritten,
    here with longer texts so every later line starts at another offset."""
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    for number, text in change.items():
        lines[number]["message"]["content"] = [{"type": "text", "text": text}]
        lines[number].pop("rustyclaw", None)  # OpenClaw drops what it does not know on rewrite
    data = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines).encode()
    fd = os.open(path, os.O_WRONLY)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, data, 0)
    finally:
        os.close(fd)


async def test_a_transcript_rewritten_in_place_is_read_again_not_refused(tmp_path: Path) -> None:
    store = JsonFileStore(tmp_path, fsync="never")
    await store.start()
    try:
        entry = _entry()
        await store.put_session(entry)
        await store.append_messages(
            entry,
            [ChatMessage(role="user", content=f"message {i}", created_at=1_767_225_601.0 + i) for i in range(5)],
        )
        path = tmp_path / "agents" / "main" / "sessions" / "s-1.jsonl"
        inode = os.stat(path).st_ino
        _rewrite_in_place(path, {1: "message 0, edited by OpenClaw: Ελληνικά 中文 🦀" * 3})
        assert os.stat(path).st_ino == inode  # in place: the store's cached offsets are now wrong

        # Before the fix, this append read from the old end offset, in the middle of a line:
        # CorruptDataError "line 6 is not valid JSON" (HTTP 500 in a running gateway).
        stored = await store.append_messages(entry, [ChatMessage(role="assistant", content="after the rewrite")])
        assert [m.content for m in stored] == ["after the rewrite"]
        messages = await store.load_messages(entry)
        assert [m.content for m in messages] == [
            "message 0, edited by OpenClaw: Ελληνικά 中文 🦀" * 3,
            "message 1",
            "message 2",
            "message 3",
            "message 4",
            "after the rewrite",
        ]
        # The file is still one valid transcript, and the new entry hangs off the last one.
        lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        assert lines[-1]["parentId"] == lines[-2]["id"]
    finally:
        await store.aclose()


async def test_appends_after_an_append_by_another_writer_still_work(tmp_path: Path) -> None:
    """The ordinary case stays incremental: another process appending is not a rewrite."""
    store = JsonFileStore(tmp_path, fsync="never")
    await store.start()
    try:
        entry = _entry()
        await store.put_session(entry)
        await store.append_messages(entry, [ChatMessage(role="user", content="one")])
        path = tmp_path / "agents" / "main" / "sessions" / "s-1.jsonl"
        last = json.loads(path.read_text(encoding="utf-8").splitlines()[-1])
        foreign = {
            "type": "message",
            "id": "oc000001",
            "parentId": last["id"],
            "timestamp": "2026-01-01T00:00:05.000Z",
            "message": {"role": "assistant", "content": [{"type": "text", "text": "from OpenClaw"}], "timestamp": 1},
        }
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)  # OpenClaw appending its own turn
        try:
            os.write(fd, (json.dumps(foreign) + "\n").encode())
        finally:
            os.close(fd)
        await store.append_messages(entry, [ChatMessage(role="user", content="three")])
        lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        assert lines[-1]["parentId"] == "oc000001"
        assert [m.content for m in await store.load_messages(entry)] == ["one", "from OpenClaw", "three"]
    finally:
        await store.aclose()


def _openclaw_touch(root: Path, **fields: int) -> None:
    """OpenClaw updating the entry: its own ms fields, the file written anew and renamed in."""
    path = _index_path(root)
    index = json.loads(path.read_text(encoding="utf-8"))
    index[KEY].update(fields)
    tmp = path.with_name("sessions.json.tmp")
    tmp.write_text(json.dumps(index), encoding="utf-8")
    os.replace(tmp, path)


async def test_updated_at_is_written_in_openclaws_field_only(tmp_path: Path) -> None:
    store = JsonFileStore(tmp_path, fsync="never")
    await store.start()
    try:
        await store.put_session(_entry(updated_at=1_767_225_600.123456))
        value = json.loads(_index_path(tmp_path).read_text())[KEY]
        assert value["updatedAt"] == 1_767_225_600_123
        assert "updatedAt" not in value.get("rustyclaw", {})
    finally:
        await store.aclose()


async def test_openclaws_updated_at_and_session_start_win(tmp_path: Path) -> None:
    store = JsonFileStore(tmp_path, fsync="never")
    await store.start()
    try:
        await store.put_session(_entry(created_at=1_767_225_600.0005, updated_at=1_767_225_600.0))
        # An older RustyClaw wrote its own exact copy of updatedAt; OpenClaw never updates it.
        path = _index_path(tmp_path)
        index = json.loads(path.read_text())
        index[KEY].setdefault("rustyclaw", {})["updatedAt"] = 1_767_225_600.0
        path.write_text(json.dumps(index))
        # OpenClaw then runs a turn an hour later and resets the session in place.
        _openclaw_touch(tmp_path, updatedAt=1_767_229_200_000, sessionStartedAt=1_767_229_100_000)
        got = await store.get_session(KEY)
        assert got is not None
        assert got.updated_at == 1_767_229_200.0
        assert got.created_at == 1_767_229_100.0
    finally:
        await store.aclose()


async def test_our_exact_start_time_survives_while_openclaw_leaves_it(tmp_path: Path) -> None:
    store = JsonFileStore(tmp_path, fsync="never")
    await store.start()
    try:
        await store.put_session(_entry(created_at=1_767_225_600.0005))
        got = await store.get_session(KEY)
        assert got is not None and got.created_at == 1_767_225_600.0005
    finally:
        await store.aclose()
