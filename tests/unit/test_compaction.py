"""Compaction rules and the maintenance flow, on the in-memory store and a scripted model."""

from __future__ import annotations

from datetime import date

import pytest

from rustyclaw.adapters.storage.memory import MemoryStore
from rustyclaw.domain.compaction import (
    COMPACTION_META,
    EXCLUDED_META,
    Budget,
    CompactionSettings,
    active_view,
    compaction_entry,
    plan_cut,
    summary_section,
)
from rustyclaw.domain.compactor import Compactor
from rustyclaw.domain.context import ContextBuilder
from rustyclaw.domain.errors import ContextOverflowError, LLMServerError
from rustyclaw.domain.maintenance import ContextMaintenance, ContextWindows
from rustyclaw.domain.memory import FLUSH_COUNT, MemoryFlusher, daily_note_path, flush_due
from rustyclaw.domain.messages import ChatMessage, InboundMessage, SessionEntry
from rustyclaw.domain.sessions import SessionService
from rustyclaw.domain.settings import PruningSettings, SessionSettings

from .fakes import FakeClock, ScriptedLLM, Step, WordTokenizer

pytestmark = pytest.mark.anyio


def msg(role: str, text: str, i: int) -> ChatMessage:
    return ChatMessage(role=role, content=text, id=f"m{i}", created_at=float(i))  # type: ignore[arg-type]


def conversation(turns: int, words: int = 20) -> list[ChatMessage]:
    out: list[ChatMessage] = []
    for t in range(turns):
        out.append(msg("user", f"question {t} " + "word " * words, 2 * t))
        out.append(msg("assistant", f"answer {t} " + "word " * words, 2 * t + 1))
    return out


def test_budget_caps_the_reserve_for_a_small_window() -> None:
    small = Budget.of(CompactionSettings(), 4096)
    assert small.threshold == 2048 and small.keep_recent == 1024 and small.summary_tokens == 1024
    assert small.flush_at == 2048 - 512
    big = Budget.of(CompactionSettings(), 128_000)
    assert big.threshold == 108_000 and big.keep_recent == 20_000 and big.flush_at == 104_000


def test_plan_cut_keeps_recent_tail_from_a_user_message() -> None:
    history = conversation(5)  # costs 10 each below
    costs = [10] * len(history)
    assert plan_cut(history, costs, 40) == 6  # the last two turns (4 messages) fit in 40
    assert history[6].role == "user"
    assert plan_cut(history, costs, 5) == 8  # newest turn kept whole even over the budget
    assert plan_cut(history[:2], [10, 10], 100) == 0  # everything fits: nothing to compact


def test_active_view_uses_latest_summary_and_kept_tail() -> None:
    history = conversation(4)
    entry = compaction_entry("the summary", history[4].id, 500, 100, manual=False)
    entry.id = "c1"
    later = [msg("user", "after", 20), msg("assistant", "reply", 21)]
    view = active_view([*history, entry, *later])
    assert view.summary == "the summary"
    assert [m.id for m in view.messages] == ["m4", "m5", "m6", "m7", "m20", "m21"]
    assert "the summary" in summary_section(view.summary)
    # A first kept id that is missing: the view starts after the entry (never the whole thing twice).
    lost = compaction_entry("s", "nope", 1, 1, manual=True)
    assert [m.id for m in active_view([*history, lost, *later]).messages] == ["m20", "m21"]


def test_excluded_messages_never_reach_the_view() -> None:
    history = conversation(1)
    history[0].meta[EXCLUDED_META] = "too_long"
    assert [m.id for m in active_view(history).messages] == ["m1"]


def _kit(steps: list[Step], window: int = 400, **settings: object) -> tuple[
    ContextMaintenance, SessionService, ScriptedLLM, MemoryStore, list[tuple[str, str, str]]
]:
    store = MemoryStore()
    clock = FakeClock()
    llm = ScriptedLLM(steps)
    context = ContextBuilder(WordTokenizer(), PruningSettings())
    sessions = SessionService(store, clock, SessionSettings())
    written: list[tuple[str, str, str]] = []

    class Files:
        def list_files(self, agent_id: str) -> list[str]:
            return []

        def read_lines(self, agent_id: str, path: str, start: int = 1, count: int | None = None) -> str:
            return ""

        def append(self, agent_id: str, path: str, text: str) -> None:
            written.append((agent_id, path, text))

    cs = CompactionSettings(reserve_tokens=100, reserve_tokens_floor=0, keep_recent_tokens=60,
                            **settings)  # type: ignore[arg-type]
    flusher = MemoryFlusher(llm, context, Files(), cs.memory_flush)

    def stamp(m: ChatMessage) -> ChatMessage:
        m.id = m.id or f"x{len(written)}-{clock.t}"
        m.created_at = m.created_at or clock.now()
        return m

    maintenance = ContextMaintenance(sessions, Compactor(llm, context, cs), context,
                                     ContextWindows(None, window, clock), clock, stamp, flusher)
    return maintenance, sessions, llm, store, written


async def _session(sessions: SessionService, store: MemoryStore, turns: int) -> SessionEntry:
    await store.start()
    entry = await sessions.open("agent:main:main", InboundMessage(channel="web", peer_id="u", sender_id="u"))
    await sessions.append(entry, conversation(turns))
    return entry


async def test_auto_compaction_stores_entry_and_keeps_every_message() -> None:
    maintenance, sessions, llm, store, written = _kit(
        [Step(text="- user likes tea"), Step(text="first part"), Step(text="SUMMARY")])
    entry = await _session(sessions, store, 8)  # 16 messages of ~22 words
    view = await maintenance.view(entry)
    prepared = await maintenance.prepare(entry, view, 20, 400, None)
    assert prepared.report is not None and prepared.report.compacted
    assert prepared.view.summary == "SUMMARY" and prepared.report.stages == 2
    # The second stage re-distils the first stage's summary with the next part.
    assert "The summary so far:\nfirst part" in llm.requests[-1].messages[1].content
    assert prepared.flushed == daily_note_path(date.fromtimestamp(1_700_000_000.0))
    assert written and "user likes tea" in written[0][2]
    stored = await store.load_messages(entry)
    assert len(stored) == 17  # 16 messages + the compaction entry, nothing removed
    compaction = stored[-1].meta[COMPACTION_META]
    assert compaction["firstKeptEntryId"] == prepared.view.messages[0].id
    assert compaction["tokensBefore"] == prepared.report.tokens_before > prepared.report.tokens_after
    # Flushed once in cycle 0; the compaction opens cycle 1, whose flush is due again later.
    assert entry.compaction_count == 1 and entry.meta[FLUSH_COUNT] == 0 and flush_due(entry)
    # The summary request is bounded: its max_tokens is the budget's summary bound.
    assert llm.requests[-1].max_tokens == Budget.of(maintenance.settings, 400).summary_tokens


async def test_failed_summary_loses_nothing() -> None:
    maintenance, sessions, _, store, _ = _kit([Step(text="NO_REPLY"), Step(error=LLMServerError("cut"))])
    entry = await _session(sessions, store, 8)
    before = [m.id for m in await store.load_messages(entry)]
    prepared = await maintenance.prepare(entry, await maintenance.view(entry), 20, 400, None)
    assert prepared.report is not None and not prepared.report.compacted
    assert "nothing was removed" in prepared.report.reason
    assert [m.id for m in await store.load_messages(entry)] == before
    assert prepared.view.summary is None and len(prepared.view.messages) == 16
    assert entry.compaction_count == 0


async def test_manual_compact_below_threshold_and_nothing_to_compact() -> None:
    maintenance, sessions, _, store, _ = _kit([Step(text="NO_REPLY"), Step(text="S1")])
    entry = await _session(sessions, store, 3)
    small = await maintenance.prepare(entry, await maintenance.view(entry), 0, 4000, None, force=True)
    assert small.report is not None and small.report.compacted and small.view.summary == "S1"
    maintenance2, sessions2, _, store2, _ = _kit([])
    entry2 = await _session(sessions2, store2, 1)
    nothing = await maintenance2.prepare(entry2, await maintenance2.view(entry2), 0, 4000, None, force=True)
    assert nothing.report is not None and not nothing.report.compacted
    assert nothing.report.reason == "nothing to compact yet"


async def test_too_long_check_uses_the_window() -> None:
    maintenance, _, _, _, _ = _kit([])
    long = ChatMessage(role="user", content="word " * 500)
    verdict = maintenance.too_long(long, 400, 250)
    assert verdict is not None and verdict.window == 400 and verdict.available == 150
    assert "too long" in verdict.notice() and "400" in verdict.notice()
    assert maintenance.too_long(ChatMessage(role="user", content="hi"), 400, 150) is None
    # At most half the window for one message, however little else the request carries.
    half = maintenance.too_long(ChatMessage(role="user", content="word " * 210), 400, 10)
    assert half is not None and half.available == 200
    # A short message is not blamed when tool schemas fill the window; a mid-sized one is.
    assert maintenance.too_long(ChatMessage(role="user", content="hi there"), 400, 500) is None
    mid = maintenance.too_long(ChatMessage(role="user", content="word " * 80), 400, 350)
    assert mid is not None and mid.available == 50


async def test_windows_probe_cache_and_shrink() -> None:
    clock = FakeClock()
    asked: list[str] = []

    class Probe:
        async def context_window(self, model_ref: str) -> int | None:
            asked.append(model_ref)
            return 4096 if model_ref == "local/smollm2" else None

    windows = ContextWindows(Probe(), 128_000, clock)
    assert await windows.window_for("local/smollm2") == 4096
    assert await windows.window_for("local/smollm2") == 4096
    assert await windows.window_for("ollama/x") == 128_000
    assert await windows.window_for("ollama/x") == 128_000
    assert asked == ["local/smollm2", "ollama/x"]  # cached, and a miss is retried only later
    windows.learn("local/smollm2", ContextOverflowError("too long", reported=5000, window=4096), 4096)
    assert await windows.window_for("local/smollm2") < 4096 * 4096 // 5000
