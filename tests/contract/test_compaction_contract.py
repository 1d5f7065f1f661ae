"""Compaction on every backend: a long session compacts, keeps answering, and after a restart the
store still holds every message plus the compaction entries (llmock plays the models); and the
transcript tail read (`load_messages_from`) the memory index follows transcripts with."""

from __future__ import annotations

from pathlib import Path

import pytest

from rustyclaw.domain.compaction import COMPACTION_META, CompactionSettings, MemoryFlushSettings, active_view
from rustyclaw.domain.messages import ChatMessage, SessionEntry
from tests.fixtures.llm_servers import LLMockServer
from tests.integration.memory_kit import build

from .backends import Opener

pytestmark = pytest.mark.anyio

TURNS = 12
SETTINGS = CompactionSettings(
    reserve_tokens=600, reserve_tokens_floor=0, keep_recent_tokens=300, summary_max_tokens=200,
    model="mock/summarizer", memory_flush=MemoryFlushSettings(model="mock/flusher"),
)


def question(i: int) -> str:
    return f"Topic {i}: please keep in mind that item number {i} is stored in drawer {i * 7}. " + (
        "This sentence only adds some length to the message so the session grows quickly. " * 3)


async def test_long_session_compacts_keeps_answering_and_survives_a_restart(
    opener: Opener, tmp_path: Path, mock_llm: LLMockServer
) -> None:
    mock_llm.reply("Summary: the user listed items and their drawers.", times=None, model="summarizer")
    mock_llm.reply("NO_REPLY", times=None, model="flusher")
    mock_llm.reply("Noted.", times=None, model="chat")
    store = opener()
    await store.start()
    kit = await build(tmp_path, store, mock_llm.base_url, window=1500, compaction=SETTINGS)
    try:
        for i in range(TURNS):
            reply = await kit.say(question(i))
            assert reply.finish_reason == "stop" and reply.text == "Noted."
        before = await kit.transcript()
    finally:
        await kit.aclose()
        await store.aclose()
    entries = [m for m in before if m.meta.get(COMPACTION_META)]
    assert entries, "the session never compacted"
    assert [m.content for m in before if m.role == "user"] == [question(i) for i in range(TURNS)]
    assert sum(m.role == "assistant" for m in before) == TURNS
    models = mock_llm.models_requested()
    assert "summarizer" in models and models[-1] == "chat"

    reopened = opener()
    await reopened.start()
    kit = await build(tmp_path, reopened, mock_llm.base_url, window=1500, compaction=SETTINGS)
    try:
        after = await kit.transcript()
        assert [(m.id, m.role, m.content) for m in after] == [(m.id, m.role, m.content) for m in before]
        latest = [m for m in after if m.meta.get(COMPACTION_META)][-1]
        record = latest.meta[COMPACTION_META]
        ids = [m.id for m in after]
        assert record["firstKeptEntryId"] in ids and record["tokensBefore"] > record["tokensAfter"] > 0
        view = active_view(after)
        assert view.summary == "Summary: the user listed items and their drawers."
        assert view.messages[0].id == record["firstKeptEntryId"]
        # The restarted gateway answers from the summary and the kept tail, not the whole history.
        reply = await kit.say("what was in drawer 0?")
        assert reply.text == "Noted."
        sent = mock_llm.requests()[-1]["body"]["messages"]
        assert "Summary: the user listed items" in sent[0]["content"]
        assert not any(question(0) == m.get("content") for m in sent)
        entry = await reopened.get_session("agent:main:main")
        assert entry is not None and entry.compaction_count == len(entries)
    finally:
        await kit.aclose()
        await reopened.aclose()


async def test_load_messages_from_reads_the_tail(opener: Opener) -> None:
    """`load_messages_from(entry, start)` is `load_messages(entry)[start:]`, also after a reopen."""
    entry = SessionEntry(key="agent:main:main", session_id="s-tail", created_at=1.0, updated_at=1.0)
    store = opener()
    await store.start()
    try:
        await store.put_session(entry)
        await store.append_messages(entry, [ChatMessage(role="user", content=f"m{i}", id=f"m{i}") for i in range(5)])
        assert [m.id for m in await store.load_messages_from(entry, 3)] == ["m3", "m4"]
        assert [m.id for m in await store.load_messages_from(entry, 0)] == [f"m{i}" for i in range(5)]
        assert await store.load_messages_from(entry, 5) == [] and await store.load_messages_from(entry, 9) == []
    finally:
        await store.aclose()
    reopened = opener()
    await reopened.start()
    try:
        await reopened.append_messages(entry, [ChatMessage(role="assistant", content="m5", id="m5")])
        tail = await reopened.load_messages_from(entry, 4)
        assert [(m.id, m.role) for m in tail] == [("m4", "user"), ("m5", "assistant")]
        assert await reopened.load_messages_from(SessionEntry(key="agent:main:x", session_id="none"), 0) == []
    finally:
        await reopened.aclose()
