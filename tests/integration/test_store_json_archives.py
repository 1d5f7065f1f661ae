"""Archived transcripts in the JSON store: OpenClaw's `.jsonl.reset.*` files, our closing marker,
and the files OpenClaw archived without one."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from rustyclaw.adapters.storage.jsonfile import JsonFileStore
from rustyclaw.domain.errors import CorruptDataError
from rustyclaw.domain.messages import ChatMessage, SessionEntry
from rustyclaw.ports.archive import ArchivedTranscript

pytestmark = pytest.mark.anyio

KEY = "agent:main:telegram:direct:7"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def folder_of(root: Path) -> Path:
    return root / "agents" / "main" / "sessions"


def write_lines(path: Path, entries: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(e) + "\n" for e in entries))


def openclaw_entries(session_id: str, texts: list[str]) -> list[dict[str, Any]]:
    header = {"type": "session", "version": 3, "id": session_id, "timestamp": "2026-01-01T00:00:00.000Z", "cwd": "/"}
    body = [
        {"type": "message", "id": f"{session_id}-{i}", "parentId": f"{session_id}-{i - 1}" if i else None,
         "timestamp": "2026-01-01T00:00:01.000Z",
         "message": {"role": "user", "content": text, "timestamp": 1_767_225_601_000 + i}}
        for i, text in enumerate(texts)
    ]  # fmt: skip
    return [header, *body]


async def started(root: Path, **kwargs: Any) -> JsonFileStore:
    store = JsonFileStore(root, **kwargs)
    await store.start()
    return store


async def test_a_reset_closes_the_archive_with_a_linked_marker(tmp_path: Path) -> None:
    store = await started(tmp_path)
    entry = SessionEntry(key=KEY, session_id="old-1", created_at=1_700_000_000.125)
    await store.put_session(entry)
    stored = await store.append_messages(entry, [ChatMessage(role="user", content="a"), ChatMessage(role="user")])
    await store.reset_session(KEY, "new-1", 1_767_225_600.5)
    [path] = folder_of(tmp_path).glob("old-1.jsonl.reset.*")
    assert path.name == "old-1.jsonl.reset.2026-01-01T00-00-00.500Z"
    *_, last, marker = lines(path)
    assert marker["type"] == "custom" and marker["customType"] == "rustyclaw.archived"
    assert marker["parentId"] == last["id"] == stored[-1].id
    assert marker["data"] == {
        "sessionKey": KEY,
        "agentId": "main",
        "archivedAt": 1_767_225_600.5,
        "createdAt": 1_700_000_000.125,
    }
    # The marker is not conversation: both ways of reading the archive give the messages.
    assert await store.load_messages(entry) == stored
    [record] = await store.list_archived()
    assert await store.load_archived(record) == stored
    await store.aclose()


async def test_an_openclaw_branch_stays_the_current_one_after_the_marker(tmp_path: Path) -> None:
    folder = folder_of(tmp_path)
    entries = openclaw_entries("tree", ["root", "abandoned"])
    entries.append({"type": "message", "id": "tree-2", "parentId": "tree-0", "timestamp": "2026-01-01T00:00:02Z",
                    "message": {"role": "user", "content": "current", "timestamp": 3}})  # fmt: skip
    write_lines(folder / "tree.jsonl", entries)
    store = await started(tmp_path)
    await store.put_session(SessionEntry(key=KEY, session_id="tree"))
    await store.reset_session(KEY, "after", 100.0)
    [record] = await store.list_archived()
    assert record.session_key == KEY
    assert [m.content for m in await store.load_archived(record)] == ["root", "current"]
    await store.aclose()


async def test_openclaw_archives_without_a_marker_get_the_fallback_key(tmp_path: Path) -> None:
    folder = folder_of(tmp_path)
    write_lines(folder / "oc-1.jsonl.reset.2026-01-02T03-04-05.678Z", openclaw_entries("oc-1", ["one", "two"]))
    odd = folder / "oc-2.jsonl.reset.yesterday"
    write_lines(odd, openclaw_entries("oc-2", ["three"]))
    os.utime(odd, (1_600_000_000.5, 1_600_000_000.5))
    store = await started(tmp_path, read_only=True)
    assert await store.list_archived() == [
        ArchivedTranscript(
            session_key="agent:main:archived:oc-1",
            session_id="oc-1",
            agent_id="main",
            archived_at=1_767_323_045.678,
            created_at=1_767_225_600.0,
        ),
        # A name whose time cannot be read: the file's modification time.
        ArchivedTranscript(
            session_key="agent:main:archived:oc-2",
            session_id="oc-2",
            agent_id="main",
            archived_at=1_600_000_000.5,
            created_at=1_767_225_600.0,
        ),
    ]
    [first, _] = await store.list_archived()
    assert [m.content for m in await store.load_archived(first)] == ["one", "two"]
    await store.aclose()


async def test_only_archives_with_entries_of_ids_no_longer_live_are_listed(tmp_path: Path) -> None:
    folder = folder_of(tmp_path)
    # OpenClaw renamed the file but died before its index moved on: the id is still live.
    write_lines(folder / "live-1.jsonl.reset.2026-01-01T00-00-00.000Z", openclaw_entries("live-1", ["x"]))
    # A header and nothing else, and an empty file.
    write_lines(folder / "bare-1.jsonl.reset.2026-01-01T00-00-00.000Z", openclaw_entries("bare-1", []))
    (folder / "zero-1.jsonl.reset.2026-01-01T00-00-00.000Z").write_bytes(b"")
    store = await started(tmp_path)
    await store.put_session(SessionEntry(key=KEY, session_id="live-1"))
    assert await store.list_archived() == []
    # A transcript that was created but never written to is archived without a marker.
    empty = SessionEntry(key="agent:main:other", session_id="empty-1")
    await store.put_session(empty)
    (folder / "empty-1.jsonl").write_bytes(b"")
    await store.reset_session(empty.key, "empty-2", 5.0)
    assert (folder / "empty-1.jsonl.reset.1970-01-01T00-00-05.000Z").read_bytes() == b""
    assert await store.list_archived() == []
    await store.aclose()


async def test_a_damaged_transcript_is_archived_as_it_is_and_loads_loudly(tmp_path: Path) -> None:
    folder = folder_of(tmp_path)
    entries = openclaw_entries("bad-1", ["one", "two"])
    write_lines(folder / "bad-1.jsonl", entries)
    rows = (folder / "bad-1.jsonl").read_text().splitlines()
    rows[1] = rows[1][:30]
    (folder / "bad-1.jsonl").write_text("\n".join(rows) + "\n")
    before = (folder / "bad-1.jsonl").read_bytes()
    store = await started(tmp_path)
    await store.put_session(SessionEntry(key=KEY, session_id="bad-1"))
    await store.reset_session(KEY, "good-1", 60.0)
    [path] = folder.glob("bad-1.jsonl.reset.*")
    assert path.read_bytes() == before
    [record] = await store.list_archived()
    assert record.session_key == "agent:main:archived:bad-1" and record.archived_at == 60.0
    with pytest.raises(CorruptDataError, match="line 2"):
        await store.load_archived(record)
    await store.aclose()


async def test_an_import_writes_one_archive_file_and_a_resumed_one_keeps_the_marker_last(tmp_path: Path) -> None:
    store = await started(tmp_path, cwd="/w")
    record = ArchivedTranscript(session_key=KEY, session_id="imp-1", archived_at=1_767_225_600.25, created_at=7.5)
    messages = [ChatMessage(role="user", content=f"m{i}", id=f"id-{i}", inbound_id=f"in-{i}") for i in range(4)]
    await store.import_archived(record, messages[:2])
    await store.import_archived(record, messages)
    [path] = [p for p in folder_of(tmp_path).iterdir() if not p.name.startswith(".")]
    assert path.name == "imp-1.jsonl.reset.2026-01-01T00-00-00.250Z"
    header, *body, marker = lines(path)
    assert (header["type"], header["id"], header["cwd"]) == ("session", "imp-1", "/w")
    assert [e["id"] for e in body] == ["id-0", "id-1", "id-2", "id-3"]
    assert [e["parentId"] for e in body] == [None, "id-0", "id-1", "id-2"]
    assert marker["customType"] == "rustyclaw.archived" and marker["parentId"] == "id-3"
    assert marker["data"]["sessionKey"] == KEY
    assert await store.load_archived(record) == messages
    await store.aclose()
