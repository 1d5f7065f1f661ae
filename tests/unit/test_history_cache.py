"""The session history cache: bounded by sessions and by estimated size, least recently used first,
and the session used last is kept (its next turn does not reload the transcript)."""

from __future__ import annotations

import pytest

from rustyclaw.adapters.storage.memory import MemoryStore
from rustyclaw.domain.history_cache import HistoryCache, message_size
from rustyclaw.domain.messages import ChatMessage, InboundMessage, SessionEntry, ToolCall
from rustyclaw.domain.sessions import SessionService
from rustyclaw.domain.settings import SessionSettings

from .fakes import FakeClock

pytestmark = pytest.mark.anyio


def msg(text: str, role: str = "user") -> ChatMessage:
    return ChatMessage(role=role, content=text)  # type: ignore[arg-type]


def test_size_counts_text_tool_calls_and_meta() -> None:
    plain = message_size(msg("x" * 1000))
    assert plain > 1000
    assert message_size(msg("x" * 2000)) == plain + 1000
    call = ChatMessage(role="assistant", tool_calls=(ToolCall(id="c1", name="exec", arguments="a" * 500),))
    assert message_size(call) > message_size(msg("")) + 500
    tagged = msg("x" * 1000)
    tagged.meta["model"] = "m"
    assert message_size(tagged) > plain


def test_evicts_least_recently_used_by_size() -> None:
    one = message_size(msg("x" * 1000))
    cache = HistoryCache(max_sessions=64, max_bytes=3 * one)
    cache.put("a", [msg("x" * 1000)])
    cache.put("b", [msg("x" * 1000)])
    cache.put("c", [msg("x" * 1000)])
    assert cache.get("a") is not None  # a is now used last; b is the oldest
    cache.put("d", [msg("x" * 1000)])
    assert "b" not in cache
    assert {"a", "c", "d"} == {k for k in "abcd" if k in cache}
    assert cache.size == 3 * one


def test_growing_transcripts_stay_within_the_budget() -> None:
    """What the gateway does: turns append to cached sessions; the total never passes the bound."""
    budget = 50_000
    cache = HistoryCache(max_sessions=64, max_bytes=budget)
    for turn in range(400):
        sid = f"s{turn % 20}"
        if cache.get(sid) is None:
            cache.put(sid, [])
        cache.extend(sid, [msg(f"question {turn}"), msg("answer " * 20, "assistant")])
        assert cache.size <= budget
    # After 400 turns in 20 sessions (800 messages, ~430 KB estimated) only ~50 KB is held.
    assert sum(len(cache.get(f"s{i}") or []) for i in range(20)) < 200


def test_the_session_used_last_stays_even_over_the_budget() -> None:
    cache = HistoryCache(max_sessions=4, max_bytes=1000)
    cache.put("small", [msg("hi")])
    big = [msg("x" * 5000)]
    assert cache.put("big", big) is big
    assert "big" in cache and "small" not in cache
    cache.extend("big", [msg("more")])
    assert cache.get("big") == big and len(big) == 2
    cache.put("next", [msg("hi")])
    assert "big" not in cache and "next" in cache


def test_count_bound_and_discard() -> None:
    cache = HistoryCache(max_sessions=2, max_bytes=10**9)
    for sid in "abc":
        cache.put(sid, [msg(sid)])
    assert len(cache) == 2 and "a" not in cache
    cache.discard("b")
    cache.discard("missing")
    assert len(cache) == 1 and cache.size == message_size(msg("c"))
    cache.extend("missing", [msg("ignored")])
    assert "missing" not in cache


def test_bad_bounds_are_refused() -> None:
    with pytest.raises(ValueError, match="max_sessions"):
        HistoryCache(max_sessions=0)
    with pytest.raises(ValueError, match="max_bytes"):
        HistoryCache(max_bytes=-1)


class CountingStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.loads = 0

    async def load_messages(self, entry: SessionEntry) -> list[ChatMessage]:
        self.loads += 1
        return await super().load_messages(entry)


async def test_session_service_keeps_hot_sessions_and_reloads_evicted_ones_whole() -> None:
    store = CountingStore()
    await store.start()
    sessions = SessionService(store, FakeClock(), SessionSettings(), cache_bytes=20 * message_size(msg("x" * 100)))
    entries = []
    for name in ("a", "b"):
        inbound = InboundMessage(channel="web", peer_id=name, sender_id=name, text="hi")
        entries.append(await sessions.open(f"agent:main:web:{name}", inbound))
    a, b = entries
    for _ in range(5):  # a's turns: a new session starts cached (empty), never loaded
        await sessions.history(a)
        await sessions.append(a, [msg("x" * 100), msg("x" * 100, "assistant")])
    assert store.loads == 0
    for _ in range(8):  # b grows past what leaves room for a: a is evicted, b stays cached
        await sessions.history(b)
        await sessions.append(b, [msg("x" * 100), msg("x" * 100, "assistant")])
    assert store.loads == 0
    history = await sessions.history(a)  # reloaded from the store, complete
    assert store.loads == 1
    assert len(history) == 10 and history == await store.load_messages(a)
