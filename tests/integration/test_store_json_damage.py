"""Bad input in the JSON store: clear errors, and nothing accepted is dropped."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from rustyclaw.adapters.storage.jsonfile import JsonFileStore
from rustyclaw.domain.errors import CorruptDataError
from rustyclaw.domain.messages import ChatMessage, SessionEntry

pytestmark = pytest.mark.anyio

ENTRY = SessionEntry(key="agent:main:main", session_id="s1")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def append_raw(path: Path, data: bytes) -> None:
    with open(path, "ab") as f:
        f.write(data)


def transcript(root: Path) -> Path:
    return root / "agents" / "main" / "sessions" / "s1.jsonl"


async def store_with(root: Path, texts: list[str]) -> JsonFileStore:
    store = JsonFileStore(root)
    await store.start()
    await store.put_session(ENTRY)
    await store.append_messages(ENTRY, [ChatMessage(role="user", content=t) for t in texts])
    return store


async def test_a_torn_last_line_is_kept_aside_and_reported(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = await store_with(tmp_path, ["one", "two"])
    path = transcript(tmp_path)
    good = path.read_bytes()
    torn = b'{"type":"message","id":"x","parentId":"y","message":{"role":"us'
    append_raw(path, torn)
    await store.aclose()

    reopened = JsonFileStore(tmp_path)
    await reopened.start()
    with caplog.at_level(logging.WARNING, logger="rustyclaw.storage.json"):
        messages = await reopened.load_messages(ENTRY)
    assert [m.content for m in messages] == ["one", "two"]
    assert path.read_bytes() == good
    aside = path.with_name("s1.jsonl.damaged").read_bytes()
    assert torn in aside
    assert json.loads(aside.splitlines()[0])["offset"] == len(good)
    assert [(d.path, d.offset, d.size) for d in reopened.damage] == [(path, len(good), len(torn))]
    assert "interrupted write" in caplog.text and "s1.jsonl.damaged" in caplog.text
    # Appends continue the chain from the last good entry.
    await reopened.append_messages(ENTRY, [ChatMessage(role="user", content="three")])
    assert [m.content for m in await reopened.load_messages(ENTRY)] == ["one", "two", "three"]
    last = json.loads(path.read_text().splitlines()[-1])
    assert last["parentId"] == messages[-1].id
    await reopened.aclose()


async def test_a_torn_line_found_by_an_append_is_repaired_first(tmp_path: Path) -> None:
    store = await store_with(tmp_path, ["one"])
    await store.aclose()
    append_raw(transcript(tmp_path), b'{"type":"mess')
    reopened = JsonFileStore(tmp_path)
    await reopened.start()
    await reopened.append_messages(ENTRY, [ChatMessage(role="user", content="two")])
    assert [m.content for m in await reopened.load_messages(ENTRY)] == ["one", "two"]
    assert len(reopened.damage) == 1
    await reopened.aclose()


async def test_a_complete_last_line_without_newline_is_kept(tmp_path: Path) -> None:
    store = await store_with(tmp_path, ["one"])
    await store.aclose()
    path = transcript(tmp_path)
    last = json.loads(path.read_text().splitlines()[-1])
    extra = {"type": "message", "id": "m2", "parentId": last["id"], "timestamp": "2026-01-01T00:00:00Z",
             "message": {"role": "user", "content": [{"type": "text", "text": "two"}], "timestamp": 0}}  # fmt: skip
    append_raw(path, json.dumps(extra).encode())
    reopened = JsonFileStore(tmp_path)
    await reopened.start()
    await reopened.append_messages(ENTRY, [ChatMessage(role="user", content="three")])
    assert [m.content for m in await reopened.load_messages(ENTRY)] == ["one", "two", "three"]
    assert reopened.damage == []
    await reopened.aclose()


async def test_damage_in_the_middle_is_an_error_and_the_file_is_left_alone(tmp_path: Path) -> None:
    store = await store_with(tmp_path, ["one", "two", "three"])
    await store.aclose()
    path = transcript(tmp_path)
    rows = path.read_text().splitlines()
    rows[2] = rows[2][:40]  # the second message, cut short, followed by a good line
    path.write_text("\n".join(rows) + "\n")
    before = path.read_bytes()
    reopened = JsonFileStore(tmp_path)
    await reopened.start()
    with pytest.raises(CorruptDataError, match=r"s1\.jsonl line 3 is not valid JSON"):
        await reopened.load_messages(ENTRY)
    with pytest.raises(CorruptDataError, match="line 3"):
        await reopened.append_messages(ENTRY, [ChatMessage(role="user", content="four")])
    assert path.read_bytes() == before
    # A reset still works: the damaged transcript is archived as it is, the key starts over.
    fresh = await reopened.reset_session(ENTRY.key, "s2", 1.0)
    await reopened.append_messages(fresh, [ChatMessage(role="user", content="new")])
    assert [m.content for m in await reopened.load_messages(fresh)] == ["new"]
    await reopened.aclose()


async def test_unknown_entry_types_are_kept_and_skipped(tmp_path: Path) -> None:
    store = await store_with(tmp_path, ["one"])
    await store.aclose()
    path = transcript(tmp_path)
    last = json.loads(path.read_text().splitlines()[-1])
    odd = {"type": "future_thing", "id": "f1", "parentId": last["id"], "payload": [1, 2]}
    append_raw(path, json.dumps(odd).encode() + b"\n")
    reopened = JsonFileStore(tmp_path)
    await reopened.start()
    await reopened.append_messages(ENTRY, [ChatMessage(role="user", content="two")])
    assert [m.content for m in await reopened.load_messages(ENTRY)] == ["one", "two"]
    assert json.dumps(odd) in path.read_text()
    await reopened.aclose()


async def test_an_index_that_is_not_json_is_an_error_naming_the_file(tmp_path: Path) -> None:
    store = await store_with(tmp_path, ["one"])
    await store.aclose()
    index = tmp_path / "agents" / "main" / "sessions" / "sessions.json"
    index.write_text('{"agent:main:main": {"sessionId": "s1",')
    before = index.read_bytes()
    reopened = JsonFileStore(tmp_path)
    await reopened.start()
    with pytest.raises(CorruptDataError, match=r"sessions\.json is not valid JSON"):
        await reopened.get_session(ENTRY.key)
    with pytest.raises(CorruptDataError, match=str(index)):
        await reopened.put_session(ENTRY)
    with pytest.raises(CorruptDataError):
        await reopened.list_sessions()
    assert index.read_bytes() == before
    await reopened.aclose()


async def test_an_index_entry_without_a_session_id_is_an_error(tmp_path: Path) -> None:
    index = tmp_path / "agents" / "main" / "sessions" / "sessions.json"
    index.parent.mkdir(parents=True)
    index.write_text(json.dumps({"agent:main:main": {"updatedAt": 1}}))
    store = JsonFileStore(tmp_path)
    await store.start()
    with pytest.raises(CorruptDataError, match="no sessionId"):
        await store.get_session("agent:main:main")
    await store.aclose()


async def test_read_only_reports_a_torn_line_without_touching_it(tmp_path: Path) -> None:
    store = await store_with(tmp_path, ["one"])
    await store.aclose()
    path = transcript(tmp_path)
    append_raw(path, b'{"ty')
    before = path.read_bytes()
    reader = JsonFileStore(tmp_path, read_only=True)
    await reader.start()
    assert [m.content for m in await reader.load_messages(ENTRY)] == ["one"]
    assert len(reader.damage) == 1
    assert path.read_bytes() == before
    assert not path.with_name("s1.jsonl.damaged").exists()
    await reader.aclose()
