"""memory_search / memory_get over a real SQLite FTS5 index, memory files on disk and a SQLite store."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from rustyclaw.adapters.memory.files import WorkspaceMemoryFiles
from rustyclaw.adapters.memory.fts import FtsMemoryIndex, chunk_markdown, match_expression
from rustyclaw.adapters.storage.sqlite import SQLiteStore
from rustyclaw.adapters.tools.memory import MemoryGetTool, MemorySearchTool
from rustyclaw.domain.errors import ToolError
from rustyclaw.domain.memory import MemorySettings
from rustyclaw.domain.messages import ChatMessage, SessionEntry
from rustyclaw.ports.tools import ToolContext

pytestmark = pytest.mark.anyio


class Kit:
    def __init__(self, root: Path, store: SQLiteStore, index: FtsMemoryIndex, files: WorkspaceMemoryFiles) -> None:
        self.root = root
        self.store = store
        self.index = index
        self.files = files
        settings = MemorySettings()
        self.search_tool = MemorySearchTool(index, settings)
        self.get_tool = MemoryGetTool(files, settings, store=store, archive=store)

    def write(self, agent: str, path: str, text: str) -> None:
        target = self.folder(agent) / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")

    def folder(self, agent: str) -> Path:
        return self.root / "workspace" / agent

    async def search(self, query: str, *, agent: str = "main", key: str | None = None,
                     session_id: str = "s-new", **args: object) -> dict[str, object]:
        context = ToolContext(agent_id=agent, session_key=key or f"agent:{agent}:main",
                              session_id=session_id, channel="web", sender_id="u")
        result: dict[str, object] = json.loads(await self.search_tool.run({"query": query, **args}, context))
        return result

    async def get(self, args: dict[str, object], *, key: str = "agent:main:main", session_id: str = "s-new") -> str:
        context = ToolContext(agent_id="main", session_key=key, session_id=session_id, channel="web", sender_id="u")
        return await self.get_tool.run(args, context)


@pytest.fixture
async def kit(tmp_path: Path) -> AsyncIterator[Kit]:
    store = SQLiteStore(tmp_path / "state" / "rustyclaw.db")
    await store.start()
    files = WorkspaceMemoryFiles(lambda agent: tmp_path / "workspace" / agent)
    index = FtsMemoryIndex(tmp_path / "state" / "memory" / "index.sqlite", files, store, store)
    await index.start()
    try:
        yield Kit(tmp_path, store, index, files)
    finally:
        await index.aclose()
        await store.aclose()


def hits(result: dict[str, object]) -> list[dict[str, object]]:
    found = result["results"]
    assert isinstance(found, list)
    return found


async def test_fact_from_one_day_found_in_a_new_session(kit: Kit) -> None:
    kit.write("main", "memory/2026-12-01.md",
              "# 2026-12-01\n\n- The user's cat is called Miso.\n- Dentist on Friday.\n")
    kit.write("main", "memory/2026-12-02.md", "# 2026-12-02\n\n- Weather talk, nothing durable.\n")
    result = await kit.search("what is the name of my cat", session_id="another-day")
    first = hits(result)[0]
    assert first["path"] == "memory/2026-12-01.md" and first["source"] == "memory"
    assert "Miso" in str(first["snippet"])
    assert first["startLine"] == 1 and first["endLine"] == 4  # the heading opens the chunk
    assert first["score"] == 1.0  # scores are relative to the best hit
    assert result["provider"] == "fts5" and result["backend"] == "builtin"
    text = json.loads(await kit.get({"path": "memory/2026-12-01.md", "from": 3, "lines": 1}))
    assert text == {"path": "memory/2026-12-01.md", "from": 3, "lines": 1,
                    "text": "- The user's cat is called Miso.", "truncated": False}


async def test_index_follows_file_changes(kit: Kit) -> None:
    kit.write("main", "memory/notes.md", "alpha bravo\n")
    assert hits(await kit.search("alpha"))
    path = kit.folder("main") / "memory" / "notes.md"
    path.write_text("charlie delta\n", encoding="utf-8")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # a later mtime, surely
    assert hits(await kit.search("alpha")) == []
    assert hits(await kit.search("charlie"))[0]["path"] == "memory/notes.md"
    path.unlink()
    assert hits(await kit.search("charlie")) == []


async def test_scope_per_agent_and_private_memory_md(kit: Kit) -> None:
    kit.write("main", "MEMORY.md", "The owner's passport number is X123.\n")
    kit.write("ops", "memory/2026-12-01.md", "The ops agent knows about passport renewals.\n")
    main = hits(await kit.search("passport"))
    assert [h["path"] for h in main] == ["MEMORY.md"]
    assert [h["path"] for h in hits(await kit.search("passport", agent="ops"))] == ["memory/2026-12-01.md"]
    group = hits(await kit.search("passport", key="agent:main:telegram:group:42"))
    assert group == []
    with pytest.raises(ToolError, match="private"):
        await kit.get({"path": "MEMORY.md"}, key="agent:main:telegram:group:42")


async def test_past_transcripts_are_searched_incrementally(kit: Kit) -> None:
    entry = SessionEntry(key="agent:main:main", session_id="old-1", created_at=1.0, updated_at=1.0)
    await kit.store.put_session(entry)
    await kit.store.append_messages(entry, [
        ChatMessage(role="user", content="My locker code is 4711", id="a", created_at=1.0),
        ChatMessage(role="assistant", content="Noted.", id="b", created_at=2.0),
    ])
    await kit.store.reset_session(entry.key, "new-2", 3.0)  # archived, still searched
    found = hits(await kit.search("locker code"))
    assert found[0]["path"] == "sessions/old-1" and found[0]["source"] == "sessions"
    assert found[0]["startLine"] == 1
    live = await kit.store.get_session("agent:main:main")
    assert live is not None
    live.updated_at = 4.0
    await kit.store.put_session(live)
    await kit.store.append_messages(live, [ChatMessage(role="user", content="the bike lock is blue", id="c")])
    assert hits(await kit.search("bike lock"))[0]["path"] == "sessions/new-2"
    assert len(hits(await kit.search("locker code"))) == 1  # nothing indexed twice
    lines = json.loads(await kit.get({"path": "sessions/old-1", "from": 1, "lines": 2}))
    assert lines["text"] == "1. user: My locker code is 4711\n2. assistant: Noted."
    # A group session sees only its own transcript.
    assert hits(await kit.search("locker code", key="agent:main:telegram:group:1", session_id="g")) == []


async def test_bad_arguments_and_paths(kit: Kit) -> None:
    with pytest.raises(ToolError, match="query"):
        await kit.search("  ")
    with pytest.raises(ToolError, match="maxResults"):
        await kit.search("x", maxResults=0)
    with pytest.raises(ToolError, match="not a memory file"):
        await kit.get({"path": "AGENTS.md"})
    with pytest.raises(ToolError, match=r"uses '\.\.'"):
        await kit.get({"path": "memory/../../etc/passwd.md"})
    with pytest.raises(ToolError, match="no memory file"):
        await kit.get({"path": "memory/none.md"})
    assert match_expression('cat" OR NEAR(') == '"cat" OR "or" OR "near"'
    assert hits(await kit.search("!!!")) == []


def test_chunks_follow_headings_and_lines() -> None:
    text = "# A\none\ntwo\n# B\n" + "\n".join(f"line {i}" for i in range(30))
    chunks = chunk_markdown(text)
    assert chunks[0] == (1, 3, "# A\none\ntwo")
    assert chunks[1][0] == 4 and chunks[1][1] - chunks[1][0] + 1 == 12
    assert all(t.strip() for _, _, t in chunks)


async def test_symlinks_out_of_the_workspace_are_not_indexed(kit: Kit, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.md").write_text("the root password is hunter2\n", encoding="utf-8")
    kit.folder("main").mkdir(parents=True)
    (kit.folder("main") / "memory").symlink_to(outside, target_is_directory=True)
    assert hits(await kit.search("root password")) == []
    kit.folder("ops").mkdir(parents=True)
    (kit.folder("ops") / "memory").mkdir()
    (kit.folder("ops") / "memory" / "link.md").symlink_to(outside / "secret.md")
    assert hits(await kit.search("root password", agent="ops")) == []
