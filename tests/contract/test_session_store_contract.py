"""The SessionStore contract (ports/session_store.py), run against every backend in backends.py."""

from __future__ import annotations

import anyio
import msgspec
import pytest

from rustyclaw.domain.errors import StorageError
from rustyclaw.domain.messages import UNKNOWN_TOKENS, ChatMessage, SessionEntry, ToolCall
from rustyclaw.ports.session_store import SessionStore

from .backends import Opener
from .samples import contents, entry, full_entry, user

pytestmark = pytest.mark.anyio


# -- index --------------------------------------------------------------------------------------


async def test_unknown_key_is_none(store: SessionStore) -> None:
    assert await store.get_session("agent:main:nobody") is None


async def test_put_then_get_round_trips_every_field(store: SessionStore) -> None:
    original = full_entry()
    await store.put_session(original)
    assert await store.get_session(original.key) == original


async def test_put_replaces_the_entry(store: SessionStore) -> None:
    await store.put_session(entry(model="a", meta={"old": 1}))
    updated = entry(
        model="b",
        updated_at=1_700_000_500.0,
        input_tokens=10,
        output_tokens=20,
        total_tokens=30,
        context_tokens=40,
        compaction_count=1,
        meta={"new": [1, 2]},
    )
    await store.put_session(updated)
    assert await store.get_session(updated.key) == updated
    assert len(await store.list_sessions()) == 1


async def test_list_sessions_all_and_by_agent(store: SessionStore) -> None:
    entries = [
        entry("agent:main:main", "s-1"),
        entry("agent:main:telegram:direct:1", "s-2"),
        entry("agent:ops:main", "s-3", agent_id="ops"),
    ]
    for e in entries:
        await store.put_session(e)
    everything = await store.list_sessions()
    assert sorted(everything, key=lambda e: e.key) == sorted(entries, key=lambda e: e.key)
    assert {e.key for e in await store.list_sessions("main")} == {entries[0].key, entries[1].key}
    assert await store.list_sessions("ops") == [entries[2]]
    assert await store.list_sessions("nobody") == []


async def test_changing_a_returned_entry_does_not_change_the_store(store: SessionStore) -> None:
    original = entry(meta={"a": 1})
    await store.put_session(original)
    original.meta["a"] = 2
    got = await store.get_session(original.key)
    assert got is not None
    assert got.meta == {"a": 1}
    got.meta["a"] = 3
    got.total_tokens = 99
    assert await store.get_session(original.key) == entry(meta={"a": 1})


# -- transcripts --------------------------------------------------------------------------------


async def test_new_session_has_an_empty_transcript(store: SessionStore) -> None:
    e = entry()
    await store.put_session(e)
    assert await store.load_messages(e) == []
    assert await store.append_messages(e, []) == []
    assert await store.load_messages(e) == []


async def test_append_and_load_round_trip_every_field(store: SessionStore) -> None:
    e = entry()
    await store.put_session(e)
    calls = (
        ToolCall(id="call_1", name="read_file", arguments='{"path": "AGENTS.md"}'),
        ToolCall(id="call_2", name="web_search", arguments="{}"),
    )
    messages = [
        ChatMessage(role="system", content="You are helpful.", tokens=5, created_at=1.5),
        user(
            "hi ✓ \n with 'quotes' and \"doubles\"",
            inbound_id="tg:100",
            tokens=7,
            name="alice",
            meta={"sender": {"id": "42", "name": "Alice"}},
        ),
        ChatMessage(role="assistant", content="", tool_calls=calls, tokens=31, id="given-id"),
        ChatMessage(role="tool", content="file text", tool_call_id="call_1", name="read_file", tokens=3),
        ChatMessage(role="tool", content="no results", tool_call_id="call_2", name="web_search"),
        ChatMessage(role="assistant", content="Done.", tokens=2, meta={"usage": {"prompt_tokens": 9}}),
    ]
    stored = await store.append_messages(e, messages)

    assert len(stored) == len(messages)
    assert all(m.id for m in stored)
    assert len({m.id for m in stored}) == len(stored)
    assert stored[2].id == "given-id"
    # Apart from the ids the store filled in, what was stored is what was given.
    assert [msgspec.structs.replace(m, id="") for m in stored] == [
        msgspec.structs.replace(m, id="") for m in messages
    ]
    loaded = await store.load_messages(e)
    assert loaded == stored
    assert loaded[2].tool_calls == calls
    assert loaded[4].tokens == UNKNOWN_TOKENS
    assert loaded[1].inbound_id == "tg:100"


async def test_append_does_not_change_the_callers_messages(store: SessionStore) -> None:
    e = entry()
    mine = user("hello")
    stored = await store.append_messages(e, [mine])
    assert mine.id == ""
    assert stored[0].id


async def test_many_appends_keep_order(store: SessionStore) -> None:
    e = entry()
    await store.put_session(e)
    expected: list[str] = []
    for call in range(40):
        batch = [user(f"{call}.{i}") for i in range(call % 4)]
        expected.extend(m.content for m in batch)
        await store.append_messages(e, batch)
    assert contents(await store.load_messages(e)) == expected


async def test_sessions_keep_separate_transcripts(store: SessionStore) -> None:
    a, b = entry("agent:main:a", "s-a"), entry("agent:main:b", "s-b")
    for e in (a, b):
        await store.put_session(e)
    await store.append_messages(a, [user("a1")])
    await store.append_messages(b, [user("b1")])
    await store.append_messages(a, [user("a2")])
    assert contents(await store.load_messages(a)) == ["a1", "a2"]
    assert contents(await store.load_messages(b)) == ["b1"]


async def test_token_totals_and_metadata_update(store: SessionStore) -> None:
    e = entry()
    await store.put_session(e)
    await store.append_messages(
        e, [user("hi", tokens=3), ChatMessage(role="assistant", content="yo", tokens=4)]
    )
    after_turn = msgspec.structs.replace(
        e,
        updated_at=1_700_000_060.0,
        input_tokens=120,
        output_tokens=4,
        total_tokens=124,
        context_tokens=8192,
        model="llama3.2:3b",
        meta={"turns": 1, "last_reply_ms": 812.5},
    )
    await store.put_session(after_turn)
    assert await store.get_session(e.key) == after_turn
    assert [m.tokens for m in await store.load_messages(after_turn)] == [3, 4]


# -- inbound de-duplication ---------------------------------------------------------------------


async def test_inbound_id_appended_twice_is_kept_once(store: SessionStore) -> None:
    e = entry()
    first = await store.append_messages(e, [user("hello", inbound_id="tg:1")])
    again = await store.append_messages(
        e, [user("hello again", inbound_id="tg:1"), user("new", inbound_id="tg:2")]
    )
    assert contents(first) == ["hello"]
    assert contents(again) == ["new"]
    assert contents(await store.load_messages(e)) == ["hello", "new"]


async def test_inbound_id_repeated_within_one_batch_is_kept_once(store: SessionStore) -> None:
    e = entry()
    batch = [
        user("one", inbound_id="wa:1"),
        ChatMessage(role="assistant", content="reply"),
        user("one repeated", inbound_id="wa:1"),
        ChatMessage(role="assistant", content="second reply"),
    ]
    stored = await store.append_messages(e, batch)
    assert contents(stored) == ["one", "reply", "second reply"]
    assert contents(await store.load_messages(e)) == ["one", "reply", "second reply"]


async def test_inbound_ids_are_per_session(store: SessionStore) -> None:
    a, b = entry("agent:main:a", "s-a"), entry("agent:main:b", "s-b")
    await store.append_messages(a, [user("to a", inbound_id="m-1")])
    stored = await store.append_messages(b, [user("to b", inbound_id="m-1")])
    assert contents(stored) == ["to b"]
    assert contents(await store.load_messages(b)) == ["to b"]


async def test_has_inbound(store: SessionStore) -> None:
    e, other = entry(), entry("agent:main:other", "s-other")
    assert not await store.has_inbound(e, "tg:7")
    await store.append_messages(e, [user("x", inbound_id="tg:7"), user("no inbound id")])
    assert await store.has_inbound(e, "tg:7")
    assert not await store.has_inbound(e, "tg:8")
    assert not await store.has_inbound(other, "tg:7")


# -- reset --------------------------------------------------------------------------------------


async def test_reset_archives_the_transcript_and_starts_an_empty_one(store: SessionStore) -> None:
    old = full_entry()
    await store.put_session(old)
    await store.append_messages(
        old, [user("before", inbound_id="tg:1"), ChatMessage(role="assistant", content="r")]
    )

    fresh = await store.reset_session(old.key, "s-new", 1_800_000_000.0)

    assert fresh.key == old.key
    assert fresh.session_id == "s-new"
    assert fresh.created_at == fresh.updated_at == 1_800_000_000.0
    assert (fresh.input_tokens, fresh.output_tokens, fresh.total_tokens) == (0, 0, 0)
    assert (fresh.context_tokens, fresh.compaction_count) == (0, 0)
    kept = (
        "agent_id",
        "chat_type",
        "channel",
        "last_channel",
        "last_to",
        "last_account_id",
        "model",
        "model_provider",
        "elevated_level",
        "tts",
        "meta",
    )
    assert {f: getattr(fresh, f) for f in kept} == {f: getattr(old, f) for f in kept}
    assert await store.get_session(old.key) == fresh
    assert await store.load_messages(fresh) == []
    assert not await store.has_inbound(fresh, "tg:1")
    # The old transcript was archived, not deleted.
    assert contents(await store.load_messages(old)) == ["before", "r"]


async def test_appends_after_reset_go_to_the_new_transcript(store: SessionStore) -> None:
    old = entry()
    await store.put_session(old)
    await store.append_messages(old, [user("old turn", inbound_id="tg:1")])
    fresh = await store.reset_session(old.key, "s-2", 1_700_000_100.0)
    # The same platform message may be answered again in the new session.
    stored = await store.append_messages(fresh, [user("new turn", inbound_id="tg:1")])
    assert contents(stored) == ["new turn"]
    assert contents(await store.load_messages(fresh)) == ["new turn"]
    assert contents(await store.load_messages(old)) == ["old turn"]
    again = await store.reset_session(old.key, "s-3", 1_700_000_200.0)
    assert await store.load_messages(again) == []
    assert contents(await store.load_messages(fresh)) == ["new turn"]


async def test_reset_of_an_unknown_key_is_a_storage_error(store: SessionStore) -> None:
    with pytest.raises(StorageError, match="agent:main:ghost"):
        await store.reset_session("agent:main:ghost", "s-new", 1.0)


async def test_reset_to_the_current_session_id_is_refused(store: SessionStore) -> None:
    e = entry()
    await store.put_session(e)
    await store.append_messages(e, [user("kept")])
    with pytest.raises(StorageError, match="current"):
        await store.reset_session(e.key, e.session_id, 2.0)
    assert await store.get_session(e.key) == e
    assert contents(await store.load_messages(e)) == ["kept"]


# -- concurrency --------------------------------------------------------------------------------


async def test_concurrent_writers_to_many_sessions(store: SessionStore) -> None:
    sessions = [entry(f"agent:main:web:direct:{n}", f"s-{n}") for n in range(20)]
    for e in sessions:
        await store.put_session(e)

    async def write(e: SessionEntry) -> None:
        for i in range(25):
            batch = [user(f"{e.session_id}/{i}", inbound_id=f"{e.session_id}:{i}")]
            if i % 5 == 0:
                batch.append(ChatMessage(role="assistant", content=f"{e.session_id}/{i}/reply"))
            await store.append_messages(e, batch)

    async with anyio.create_task_group() as tg:
        for e in sessions:
            tg.start_soon(write, e)

    for e in sessions:
        expected: list[str] = []
        for i in range(25):
            expected.append(f"{e.session_id}/{i}")
            if i % 5 == 0:
                expected.append(f"{e.session_id}/{i}/reply")
        assert contents(await store.load_messages(e)) == expected


async def test_concurrent_duplicate_deliveries_are_kept_once(store: SessionStore) -> None:
    e = entry()
    await store.put_session(e)
    results: list[list[ChatMessage]] = []

    async def deliver() -> None:
        results.append(await store.append_messages(e, [user("same event", inbound_id="dc:5")]))

    async with anyio.create_task_group() as tg:
        for _ in range(10):
            tg.start_soon(deliver)
    assert sorted(len(r) for r in results) == [0] * 9 + [1]
    assert contents(await store.load_messages(e)) == ["same event"]


# -- lifecycle ----------------------------------------------------------------------------------


async def test_aclose_is_idempotent(opener: Opener) -> None:
    s = opener()
    await s.start()
    await s.aclose()
    await s.aclose()


async def test_a_closed_store_raises_storage_error(opener: Opener) -> None:
    s = opener()
    await s.start()
    await s.aclose()
    with pytest.raises(StorageError):
        await s.get_session("agent:main:main")
    with pytest.raises(StorageError):
        await s.append_messages(entry(), [user("x")])


async def test_a_reopened_store_sees_everything(opener: Opener) -> None:
    first = opener()
    await first.start()
    try:
        full = full_entry()
        await first.put_session(full)
        await first.append_messages(full, [user("q", inbound_id="tg:1", tokens=2, meta={"k": "v"})])
        old = entry("agent:main:main", "s-old")
        await first.put_session(old)
        await first.append_messages(old, [user("before reset")])
        fresh = await first.reset_session(old.key, "s-fresh", 1_700_000_900.0)
        await first.append_messages(fresh, [user("after reset")])
        full_messages = await first.load_messages(full)
    finally:
        await first.aclose()

    second = opener()
    await second.start()
    try:
        assert await second.get_session(full.key) == full
        assert await second.get_session(old.key) == fresh
        assert len(await second.list_sessions()) == 2
        assert await second.load_messages(full) == full_messages
        assert contents(await second.load_messages(fresh)) == ["after reset"]
        assert contents(await second.load_messages(old)) == ["before reset"]
        assert await second.has_inbound(full, "tg:1")
        assert await second.append_messages(full, [user("q again", inbound_id="tg:1")]) == []
        await second.append_messages(full, [user("next")])
        assert contents(await second.load_messages(full)) == ["q", "next"]
    finally:
        await second.aclose()
