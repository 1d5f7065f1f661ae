"""How each backend records a compaction entry: OpenClaw's `compaction` line in the JSON transcript,
the `compactions` table (migration 002) in SQLite and PostgreSQL, filled as the entry is appended."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from rustyclaw.adapters.storage.jsonfile import JsonFileStore
from rustyclaw.adapters.storage.postgres import PostgresStore
from rustyclaw.adapters.storage.sqlite import SQLiteStore
from rustyclaw.domain.compaction import active_view, compaction_entry, exclusion_entry
from rustyclaw.domain.messages import ChatMessage, SessionEntry
from tests.fixtures.postgres_schema import temporary_schema

pytestmark = pytest.mark.anyio

ENTRY = SessionEntry(key="agent:main:main", session_id="s-1", created_at=1.0, updated_at=1.0)


def transcript() -> list[ChatMessage]:
    out = [ChatMessage(role="user" if i % 2 == 0 else "assistant", content=f"m{i}", id=f"m{i}", created_at=float(i))
           for i in range(6)]
    entry = compaction_entry("the summary", "m4", 321, 45, manual=False)
    entry.id, entry.created_at = "c1", 7.0
    excludes = exclusion_entry("m7")
    excludes.id, excludes.created_at = "x1", 9.0
    return [*out, entry, ChatMessage(role="user", content="after", id="m7", created_at=8.0), excludes]


async def test_json_store_writes_openclaw_compaction_entry(tmp_path: Path) -> None:
    store = JsonFileStore(tmp_path)
    await store.start()
    try:
        await store.put_session(ENTRY)
        await store.append_messages(ENTRY, transcript())
        lines = [json.loads(line) for line in
                 (store.sessions_dir("main") / "s-1.jsonl").read_text(encoding="utf-8").splitlines()]
        (compaction,) = [line for line in lines if line["type"] == "compaction"]
        assert compaction["summary"] == "the summary"
        assert compaction["firstKeptEntryId"] == "m4" and compaction["tokensBefore"] == 321
        assert compaction["id"] == "c1" and compaction["parentId"] == "m5"
        loaded = await store.load_messages(ENTRY)
        assert [m.id for m in loaded] == [m.id for m in transcript()]
        assert loaded[6].meta["compaction"]["tokensAfter"] == 45
        assert loaded[8].meta == {"contextExcludes": "m7"}  # an exclusion entry survives as a custom entry
        assert [m.id for m in active_view(loaded).messages] == ["m4", "m5"]
    finally:
        await store.aclose()


async def test_sqlite_indexes_compactions(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    store = SQLiteStore(path)
    await store.start()
    try:
        await store.put_session(ENTRY)
        await store.append_messages(ENTRY, transcript())
    finally:
        await store.aclose()
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT session_id, entry_id, first_kept_entry_id, tokens_before FROM compactions").fetchall()
        kept_seq = db.execute("SELECT seq FROM messages WHERE session_id = 's-1' AND id = 'm4'").fetchone()
        entry_seq = db.execute("SELECT seq FROM compactions").fetchone()
    assert rows == [("s-1", "c1", "m4", 321)]
    assert kept_seq[0] < entry_seq[0]


@pytest.mark.postgres
async def test_postgres_indexes_compactions() -> None:
    import psycopg

    async with temporary_schema("compact") as dsn:
        store = PostgresStore(dsn, min_size=1, max_size=2)
        await store.start()
        try:
            await store.put_session(ENTRY)
            await store.append_messages(ENTRY, transcript())
        finally:
            await store.aclose()
        async with await psycopg.AsyncConnection.connect(dsn) as conn:
            cursor = await conn.execute(
                "SELECT session_id, entry_id, first_kept_entry_id, tokens_before FROM compactions")
            assert await cursor.fetchall() == [("s-1", "c1", "m4", 321)]
