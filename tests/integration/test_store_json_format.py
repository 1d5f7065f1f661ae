"""The JSON store writes OpenClaw's classic files and reads files OpenClaw wrote."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rustyclaw.adapters.storage.jsonfile import JsonFileStore
from rustyclaw.domain.errors import StorageError
from rustyclaw.domain.messages import ChatMessage, SessionEntry, ToolCall

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


async def started(root: Path, **kwargs: Any) -> JsonFileStore:
    store = JsonFileStore(root, **kwargs)
    await store.start()
    return store


async def test_writes_openclaw_index_and_transcript_shapes(tmp_path: Path) -> None:
    store = await started(tmp_path, cwd="/work/agent")
    entry = SessionEntry(
        key="agent:ops:telegram:direct:42",
        session_id="0b5c-sess",
        agent_id="ops",
        created_at=1_700_000_000.0,
        updated_at=1_700_000_100.25,
        channel="telegram",
        last_channel="telegram",
        last_to="42",
        model="qwen2.5:7b",
        model_provider="ollama",
        input_tokens=10,
        output_tokens=5,
        total_tokens=15,
        context_tokens=8192,
        compaction_count=1,
        meta={"label": "x"},
    )
    await store.put_session(entry)
    await store.append_messages(
        entry,
        [
            ChatMessage(role="user", content="hi", inbound_id="tg:1", created_at=1_700_000_001.0, tokens=2),
            ChatMessage(
                role="assistant",
                tool_calls=(ToolCall(id="call_1", name="read", arguments='{"path":"AGENTS.md"}'),),
                created_at=1_700_000_002.0,
            ),
            ChatMessage(role="tool", content="text", tool_call_id="call_1", name="read", created_at=1_700_000_003.0),
            ChatMessage(role="assistant", content="Done.", created_at=1_700_000_004.0, meta={"model": "qwen"}),
            ChatMessage(
                role="system",
                content="Summary so far",
                meta={"compaction": {"firstKeptEntryId": "x", "tokensBefore": 900}},
            ),
        ],
    )
    await store.aclose()

    folder = tmp_path / "agents" / "ops" / "sessions"
    index = json.loads((folder / "sessions.json").read_text())
    value = index["agent:ops:telegram:direct:42"]
    assert value["sessionId"] == "0b5c-sess"
    assert value["updatedAt"] == 1_700_000_100_250
    assert value["sessionFile"] == str(folder / "0b5c-sess.jsonl")
    assert value["chatType"] == "direct"
    assert (value["channel"], value["lastChannel"], value["lastTo"]) == ("telegram", "telegram", "42")
    assert (value["model"], value["modelProvider"]) == ("qwen2.5:7b", "ollama")
    assert (value["inputTokens"], value["outputTokens"], value["totalTokens"]) == (10, 5, 15)
    assert (value["contextTokens"], value["compactionCount"], value["elevatedLevel"]) == (8192, 1, "off")
    assert value["rustyclaw"] == {"meta": {"label": "x"}}

    header, *entries = lines(folder / "0b5c-sess.jsonl")
    assert header["type"] == "session" and header["version"] == 3
    assert header["id"] == "0b5c-sess" and header["cwd"] == "/work/agent"
    assert header["timestamp"] == "2023-11-14T22:13:20.000Z"
    assert [e["type"] for e in entries] == ["message"] * 4 + ["compaction"]
    assert entries[0]["parentId"] is None
    assert [e["parentId"] for e in entries[1:]] == [e["id"] for e in entries[:-1]]
    user, call, result, reply, compaction = entries
    assert user["message"] == {
        "role": "user",
        "content": [{"type": "text", "text": "hi"}],
        "timestamp": 1_700_000_001_000,
    }
    assert user["rustyclaw"] == {"tokens": 2, "inboundId": "tg:1"}
    assert user["timestamp"] == "2023-11-14T22:13:21.000Z"
    assert call["message"]["content"] == [
        {"type": "toolCall", "id": "call_1", "name": "read", "arguments": {"path": "AGENTS.md"}}
    ]
    assert call["message"]["stopReason"] == "toolUse"
    assert result["message"]["role"] == "toolResult"
    assert (result["message"]["toolCallId"], result["message"]["toolName"]) == ("call_1", "read")
    assert result["message"]["content"] == [{"type": "text", "text": "text"}]
    assert reply["message"]["stopReason"] == "stop" and reply["message"]["model"] == "qwen"
    assert compaction["summary"] == "Summary so far"
    assert (compaction["firstKeptEntryId"], compaction["tokensBefore"]) == ("x", 900)


OPENCLAW_INDEX = {
    "agent:main:main": {
        "sessionId": "9f1c2d3e-0000-4000-8000-000000000001",
        "updatedAt": 1_767_225_600_000,
        "chatType": "direct",
        "lastChannel": "telegram",
        "lastTo": "telegram:123",
        "thinkingLevel": "high",
        "displayName": "Me",
        "inputTokens": 50,
        "outputTokens": 20,
        "totalTokens": 70,
        "contextTokens": 200000,
        "compactionCount": 1,
    },
    "agent:main:discord:channel:55": {
        "sessionId": "9f1c2d3e-0000-4000-8000-000000000002",
        "updatedAt": 1_767_225_000_000,
        "chatType": "room",
        "sessionFile": "9f1c2d3e-0000-4000-8000-000000000002-topic-7.jsonl",
    },
}

OPENCLAW_TRANSCRIPT = [
    {"type": "session", "version": 3, "id": "9f1c2d3e-0000-4000-8000-000000000001",
     "timestamp": "2026-01-01T00:00:00.000Z", "cwd": "/home/me/.openclaw/workspace"},
    {"type": "message", "id": "a1", "parentId": None, "timestamp": "2026-01-01T00:00:01.000Z",
     "message": {"role": "user", "content": "What is in AGENTS.md?", "timestamp": 1_767_225_601_000}},
    {"type": "model_change", "id": "a2", "parentId": "a1", "timestamp": "2026-01-01T00:00:01.500Z",
     "provider": "ollama", "modelId": "qwen3"},
    {"type": "message", "id": "a3", "parentId": "a2", "timestamp": "2026-01-01T00:00:02.000Z",
     "message": {"role": "assistant", "content": [
         {"type": "thinking", "thinking": "read it"},
         {"type": "text", "text": "Let me look."},
         {"type": "toolCall", "id": "call_9", "name": "read", "arguments": {"path": "AGENTS.md"}}],
         "provider": "ollama", "model": "qwen3", "stopReason": "toolUse", "timestamp": 1_767_225_602_000}},
    {"type": "message", "id": "a4", "parentId": "a3", "timestamp": "2026-01-01T00:00:03.000Z",
     "message": {"role": "toolResult", "toolCallId": "call_9", "toolName": "read",
                 "content": [{"type": "text", "text": "# Rules"}], "isError": False, "timestamp": 1_767_225_603_000}},
    {"type": "custom", "id": "a5", "parentId": "a4", "timestamp": "2026-01-01T00:00:03.500Z",
     "customType": "some-extension", "data": {"n": 1}},
    {"type": "compaction", "id": "a6", "parentId": "a5", "timestamp": "2026-01-01T00:00:04.000Z",
     "summary": "User asked about AGENTS.md.", "firstKeptEntryId": "a4", "tokensBefore": 5000},
    {"type": "message", "id": "a7", "parentId": "a6", "timestamp": "2026-01-01T00:00:05.000Z",
     "message": {"role": "user", "content": [{"type": "text", "text": "thanks"}], "timestamp": 1_767_225_605_000}},
]  # fmt: skip


def write_openclaw(root: Path) -> Path:
    folder = root / "agents" / "main" / "sessions"
    folder.mkdir(parents=True)
    (folder / "sessions.json").write_text(json.dumps(OPENCLAW_INDEX, indent=2))
    transcript = folder / "9f1c2d3e-0000-4000-8000-000000000001.jsonl"
    transcript.write_text("".join(json.dumps(e) + "\n" for e in OPENCLAW_TRANSCRIPT))
    topic = folder / "9f1c2d3e-0000-4000-8000-000000000002-topic-7.jsonl"
    topic.write_text(
        json.dumps({"type": "session", "version": 3, "id": "x", "timestamp": "2026-01-01T00:00:00Z", "cwd": "/"})
        + "\n"
        + json.dumps(
            {
                "type": "message",
                "id": "t1",
                "parentId": None,
                "timestamp": "2026-01-01T00:00:00Z",
                "message": {"role": "user", "content": "in a topic", "timestamp": 1_767_225_000_000},
            }
        )
        + "\n"
    )
    return folder


async def test_reads_an_openclaw_folder(tmp_path: Path) -> None:
    folder = write_openclaw(tmp_path)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    store = await started(tmp_path, read_only=True)
    entries = await store.list_sessions()
    assert [e.key for e in entries] == ["agent:main:discord:channel:55", "agent:main:main"]
    room, main = entries
    assert room.chat_type == "channel"
    assert main.session_id == "9f1c2d3e-0000-4000-8000-000000000001"
    assert main.agent_id == "main"
    assert main.updated_at == 1_767_225_600.0
    assert (main.last_channel, main.last_to, main.total_tokens, main.compaction_count) == (
        "telegram",
        "telegram:123",
        70,
        1,
    )

    messages = await store.load_messages(main)
    assert [(m.role, m.content) for m in messages] == [
        ("user", "What is in AGENTS.md?"),
        ("assistant", "Let me look."),
        ("tool", "# Rules"),
        ("system", "User asked about AGENTS.md."),
        ("user", "thanks"),
    ]
    assert [m.id for m in messages] == ["a1", "a3", "a4", "a6", "a7"]
    user, assistant, tool, compaction, _ = messages
    assert user.created_at == 1_767_225_601.0
    assert assistant.tool_calls == (ToolCall(id="call_9", name="read", arguments='{"path":"AGENTS.md"}'),)
    # What we have no field for is kept, not dropped.
    assert assistant.meta["openclaw"]["content"] == [{"type": "thinking", "thinking": "read it"}]
    assert assistant.meta["openclaw"]["model"] == "qwen3"
    assert (tool.tool_call_id, tool.name) == ("call_9", "read")
    assert compaction.meta["compaction"] == {"firstKeptEntryId": "a4", "tokensBefore": 5000}
    # sessionFile points at a Telegram topic transcript.
    assert [m.content for m in await store.load_messages(room)] == ["in a topic"]
    await store.aclose()
    # Read-only means read-only.
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


async def test_follows_the_current_branch_of_a_tree(tmp_path: Path) -> None:
    folder = tmp_path / "agents" / "main" / "sessions"
    folder.mkdir(parents=True)
    entries = [
        {"type": "session", "version": 3, "id": "s", "timestamp": "2026-01-01T00:00:00Z", "cwd": "/"},
        {"type": "message", "id": "r", "parentId": None, "timestamp": "2026-01-01T00:00:00Z",
         "message": {"role": "user", "content": "root", "timestamp": 1}},
        {"type": "message", "id": "old", "parentId": "r", "timestamp": "2026-01-01T00:00:00Z",
         "message": {"role": "user", "content": "abandoned branch", "timestamp": 2}},
        {"type": "message", "id": "new", "parentId": "r", "timestamp": "2026-01-01T00:00:00Z",
         "message": {"role": "user", "content": "current branch", "timestamp": 3}},
    ]  # fmt: skip
    (folder / "s.jsonl").write_text("".join(json.dumps(e) + "\n" for e in entries))
    store = await started(tmp_path)
    messages = await store.load_messages(SessionEntry(key="agent:main:main", session_id="s"))
    assert [m.content for m in messages] == ["root", "current branch"]
    # A new message continues the current branch.
    await store.append_messages(
        SessionEntry(key="agent:main:main", session_id="s"), [ChatMessage(role="user", content="next")]
    )
    assert lines(folder / "s.jsonl")[-1]["parentId"] == "new"
    await store.aclose()


async def test_updating_an_openclaw_entry_keeps_its_other_fields(tmp_path: Path) -> None:
    folder = write_openclaw(tmp_path)
    store = await started(tmp_path)
    main = await store.get_session("agent:main:main")
    assert main is not None
    main.total_tokens = 99
    await store.put_session(main)
    value = json.loads((folder / "sessions.json").read_text())["agent:main:main"]
    assert (value["thinkingLevel"], value["displayName"], value["totalTokens"]) == ("high", "Me", 99)
    assert "agent:main:discord:channel:55" in json.loads((folder / "sessions.json").read_text())
    await store.aclose()


async def test_reset_archives_the_transcript_under_openclaws_name(tmp_path: Path) -> None:
    store = await started(tmp_path)
    entry = SessionEntry(key="agent:main:main", session_id="old-id")
    await store.put_session(entry)
    await store.append_messages(entry, [ChatMessage(role="user", content="before")])
    fresh = await store.reset_session(entry.key, "new-id", 1_767_225_600.5)
    folder = tmp_path / "agents" / "main" / "sessions"
    assert not (folder / "old-id.jsonl").exists()
    assert [p.name for p in folder.glob("old-id.jsonl.reset.*")] == ["old-id.jsonl.reset.2026-01-01T00-00-00.500Z"]
    index = json.loads((folder / "sessions.json").read_text())
    assert index["agent:main:main"]["sessionId"] == "new-id"
    assert [m.content for m in await store.load_messages(entry)] == ["before"]
    assert await store.load_messages(fresh) == []
    await store.aclose()


async def test_index_writes_leave_no_temporary_files(tmp_path: Path) -> None:
    store = await started(tmp_path)
    for n in range(5):
        await store.put_session(SessionEntry(key=f"agent:main:k{n}", session_id=f"s{n}"))
    folder = tmp_path / "agents" / "main" / "sessions"
    assert sorted(p.name for p in folder.iterdir()) == [".locks", "sessions.json"]
    assert len(json.loads((folder / "sessions.json").read_text())) == 5
    await store.aclose()


async def test_agent_folder_follows_the_entry(tmp_path: Path) -> None:
    store = await started(tmp_path)
    await store.put_session(SessionEntry(key="cron:nightly", session_id="c1", agent_id="ops"))
    got = await store.get_session("cron:nightly")
    assert got is not None and got.agent_id == "ops"
    assert (tmp_path / "agents" / "ops" / "sessions" / "sessions.json").exists()
    await store.aclose()


def test_refuses_unknown_fsync_policy(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="always, batch, never"):
        JsonFileStore(tmp_path, fsync="sometimes")


async def test_refuses_unsafe_file_names(tmp_path: Path) -> None:
    store = await started(tmp_path)
    with pytest.raises(StorageError, match="file name"):
        await store.append_messages(SessionEntry(key="agent:main:main", session_id="../x"), [ChatMessage(role="user")])
    await store.aclose()


async def test_forgotten_append_state_is_rebuilt_from_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("rustyclaw.adapters.storage.jsonfile.TRANSCRIPT_STATES_KEPT", 2)
    store = await started(tmp_path)
    entries = [SessionEntry(key=f"agent:main:k{n}", session_id=f"s{n}") for n in range(5)]
    for e in entries:
        await store.append_messages(e, [ChatMessage(role="user", content="first", inbound_id="tg:1")])
    for e in entries:
        assert await store.append_messages(e, [ChatMessage(role="user", content="again", inbound_id="tg:1")]) == []
        await store.append_messages(e, [ChatMessage(role="user", content="second")])
    folder = tmp_path / "agents" / "main" / "sessions"
    for e in entries:
        assert [m.content for m in await store.load_messages(e)] == ["first", "second"]
        chain = lines(folder / f"{e.session_id}.jsonl")[1:]
        assert chain[1]["parentId"] == chain[0]["id"]
    await store.aclose()
