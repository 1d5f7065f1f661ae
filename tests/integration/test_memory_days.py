"""A fact noted on one day is found by memory_search in a new session the next day.

Day 1: the pre-compaction memory flush writes the model's notes to memory/<day 1>.md. Day 2:
after /new, the model calls memory_search (llmock plays the models) and the real FTS5 index
finds the note.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rustyclaw.adapters.storage.sqlite import SQLiteStore
from rustyclaw.domain.compaction import CompactionSettings, MemoryFlushSettings
from tests.fixtures.llm_servers import LLMockServer
from tests.integration.memory_kit import MovableClock, build

pytestmark = pytest.mark.anyio

DAY1 = 1_764_669_600.0  # 2025-12-02 10:00 UTC
SETTINGS = CompactionSettings(keep_recent_tokens=10, model="mock/summarizer",
                              memory_flush=MemoryFlushSettings(model="mock/flusher"))


async def test_fact_from_day_one_is_found_in_a_new_session_on_day_two(
    tmp_path: Path, mock_llm: LLMockServer
) -> None:
    store = SQLiteStore(tmp_path / "state" / "rustyclaw.db")
    await store.start()
    clock = MovableClock(DAY1)
    mock_llm.reply("- The user's cat is called Miso.", times=None, model="flusher")
    mock_llm.reply("Summary: talked about the cat.", times=None, model="summarizer")
    mock_llm.reply("Nice!", times=None, model="chat")
    kit = await build(tmp_path, store, mock_llm.base_url, compaction=SETTINGS, clock=clock)
    try:
        await kit.say("My cat is called Miso, she is three years old.")
        await kit.say("She likes sleeping on the radiator.")
        compacted = await kit.say("/compact")
        assert compacted.text.startswith("Compacted")
        note = tmp_path / "workspace" / "memory" / "2025-12-02.md"
        assert "- The user's cat is called Miso." in note.read_text(encoding="utf-8")
        first_session = (await kit.transcript())[0]
        entry = await store.get_session("agent:main:main")
        assert entry is not None
        first_session_id = entry.session_id

        clock.t = DAY1 + 86_400
        await kit.say("/new")
        mock_llm.reset()
        mock_llm.call_tool("memory_search", {"query": "what is my cat called"}, model="chat")
        mock_llm.reply("Your cat is Miso.", times=None, model="chat")
        reply = await kit.say("Do you remember my cat's name?")
        assert reply.text == "Your cat is Miso."
        messages = await kit.transcript()
        assert first_session.id not in {m.id for m in messages}  # a new session
        (result,) = [m for m in messages if m.role == "tool"]
        found = json.loads(result.content)["results"]
        (note_hit,) = [hit for hit in found if hit["source"] == "memory"]
        assert note_hit["path"] == "memory/2025-12-02.md" and "Miso" in note_hit["snippet"]
        # The day-one transcript is searchable too, as a past session.
        past = [hit for hit in found if hit["source"] == "sessions"]
        assert past and past[0]["path"] == f"sessions/{first_session_id}" and "Miso" in past[0]["snippet"]
    finally:
        await kit.aclose()
        await store.aclose()
