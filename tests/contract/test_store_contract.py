"""The SessionStore contract (ports/storage.py), run against every backend in backends.py."""

from __future__ import annotations

from typing import Any

import anyio
import msgspec
import pytest

from rustyclaw.domain.errors import StorageError
from rustyclaw.domain.messages import UNKNOWN_TOKENS, ChatMessage, SessionEntry, ToolCall
from rustyclaw.ports.storage import ArchivedTranscript, SessionStore

from .backends import Opener

pytestmark = pytest.mark.anyio


def entry(key: str = "agent:main:main", session_id: str = "s-1", **fields: Any) -> SessionEntry:
    fields.setdefault("created_at", 1_700_000_000.0)
    fields.setdefault("updated_at", 1_700_000_000.0)
    return SessionEntry(key=key, session_id=session_id, **fields)


def user(text: str, **fields: Any) -> ChatMessage:
    return ChatMessage(role="user", content=text, **fields)


def contents(messages: list[ChatMessage]) -> list[str]:
    return [m.content for m in messages]


def full_entry() -> SessionEntry:
    """Every field set away from its default."""
    return SessionEntry(
        key="agent:ops:telegram:direct:42",
        session_id="b6f1c0de-0000-4000-8000-000000000001",
        agent_id="ops",
        created_at=1_700_000_000.25,
        updated_at=1_700_000_123.5,
        chat_type="group",
        channel="telegram",
        last_channel="discord",
        last_to="chat:42",
        last_account_id="bot-2",
        model="qwen2.5:7b",
        model_provider="ollama",
        input_tokens=1200,
        output_tokens=340,
        total_tokens=1540,
        context_tokens=32768,
        compaction_count=2,
        elevated_level="on",
        tts="always",
        meta={"label": "Ops", "nested": {"list": [1, 2.5, "x", None, True]}, "ünïcode": "✓"},
    )


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


async def test_turn_lock_excludes_the_same_key_and_not_others(store: SessionStore) -> None:
    log: list[str] = []
    a_holding = anyio.Event()
    release_a = anyio.Event()
    b_done = anyio.Event()

    async def turn_a() -> None:
        async with store.turn_lock("agent:main:a"):
            log.append("a1 in")
            a_holding.set()
            await release_a.wait()
            log.append("a1 out")

    async def second_turn_a() -> None:
        async with store.turn_lock("agent:main:a"):
            log.append("a2 in")

    async def turn_b() -> None:
        async with store.turn_lock("agent:main:b"):
            log.append("b in")
        b_done.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(turn_a)
        await a_holding.wait()
        tg.start_soon(second_turn_a)
        tg.start_soon(turn_b)
        await b_done.wait()
        await anyio.wait_all_tasks_blocked()
        # b ran while a was held; the second turn of a is still waiting.
        assert log == ["a1 in", "b in"]
        release_a.set()
    assert log == ["a1 in", "b in", "a1 out", "a2 in"]


async def test_turn_lock_is_free_again_after_an_error(store: SessionStore) -> None:
    with pytest.raises(RuntimeError):
        async with store.turn_lock("agent:main:a"):
            raise RuntimeError("turn failed")
    with anyio.fail_after(5):
        async with store.turn_lock("agent:main:a"):
            pass


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


# -- archived transcripts -----------------------------------------------------------------------


def archived_conversation(prefix: str) -> list[ChatMessage]:
    """Messages with ids (what an import carries), one of every kind a transcript holds."""
    return [
        ChatMessage(role="system", content="Summary", id=f"{prefix}-0", meta={"compaction": {"tokensBefore": 90}}),
        user(f"{prefix} question", id=f"{prefix}-1", inbound_id=f"tg:{prefix}", tokens=4, created_at=1_700_000_001.5),
        ChatMessage(
            role="assistant",
            tool_calls=(ToolCall(id="c1", name="read", arguments='{"path": "x"}'),),
            id=f"{prefix}-2",
            tokens=9,
        ),
        ChatMessage(role="tool", content="text", tool_call_id="c1", name="read", id=f"{prefix}-3"),
        ChatMessage(role="assistant", content=f"{prefix} answer", id=f"{prefix}-4", meta={"usage": {"x": 1}}),
    ]


async def test_a_reset_lists_the_old_transcript_as_archived(store: SessionStore) -> None:
    old = full_entry()
    await store.put_session(old)
    stored = await store.append_messages(
        old, [user("before", inbound_id="tg:1"), ChatMessage(role="assistant", content="r")]
    )
    fresh = await store.reset_session(old.key, "s-new", 1_800_000_000.5)
    await store.append_messages(fresh, [user("after")])

    archived = ArchivedTranscript(
        session_key=old.key,
        session_id=old.session_id,
        agent_id=old.agent_id,
        archived_at=1_800_000_000.5,
        created_at=old.created_at,
    )
    assert await store.list_archived() == [archived]
    assert await store.list_archived("ops") == [archived]
    assert await store.list_archived("main") == []
    assert await store.load_archived(archived) == stored
    # The live transcript is not an archive; the archive is not a session.
    assert [e.session_id for e in await store.list_sessions()] == ["s-new"]


async def test_every_reset_archives_one_transcript_in_key_and_time_order(store: SessionStore) -> None:
    b = entry("agent:main:b", "b-1")
    a = entry("agent:main:a", "a-1")
    for e in (b, a):
        await store.put_session(e)
        await store.append_messages(e, [user(f"{e.session_id} one"), user(f"{e.session_id} two")])
    b2 = await store.reset_session(b.key, "b-2", 1_700_000_300.0)
    await store.append_messages(b2, [user("b-2 one")])
    await store.reset_session(b.key, "b-3", 1_700_000_400.0)
    await store.reset_session(a.key, "a-2", 1_700_000_200.0)
    # A transcript reset before it held anything leaves nothing to list.
    await store.reset_session(a.key, "a-3", 1_700_000_500.0)

    listed = await store.list_archived()
    assert [(x.session_key, x.session_id, x.archived_at) for x in listed] == [
        ("agent:main:a", "a-1", 1_700_000_200.0),
        ("agent:main:b", "b-1", 1_700_000_300.0),
        ("agent:main:b", "b-2", 1_700_000_400.0),
    ]
    assert [contents(await store.load_archived(x)) for x in listed] == [
        ["a-1 one", "a-1 two"],
        ["b-1 one", "b-1 two"],
        ["b-2 one"],
    ]


async def test_moving_a_key_to_a_new_session_id_archives_the_old_transcript(store: SessionStore) -> None:
    old = entry(created_at=1_700_000_000.25)
    await store.put_session(old)
    await store.append_messages(old, [user("kept")])
    moved = entry(session_id="s-2", created_at=1_700_000_050.0, updated_at=1_700_000_060.0)
    await store.put_session(moved)
    assert await store.list_archived() == [
        ArchivedTranscript(
            session_key=old.key,
            session_id="s-1",
            agent_id="main",
            archived_at=1_700_000_060.0,
            created_at=old.created_at,
        )
    ]
    assert await store.load_messages(moved) == []


async def test_import_archived_round_trips_and_is_idempotent(store: SessionStore) -> None:
    archived = ArchivedTranscript(
        session_key="agent:ops:telegram:direct:9",
        session_id="arch-1",
        agent_id="ops",
        archived_at=1_700_000_500.125,
        created_at=1_700_000_000.25,
    )
    messages = archived_conversation("m")
    # An interrupted import stored the first messages; the next run brings the rest once.
    await store.import_archived(archived, messages[:2])
    assert await store.load_archived(archived) == messages[:2]
    await store.import_archived(archived, messages)
    await store.import_archived(archived, messages)
    assert await store.load_archived(archived) == messages
    assert await store.list_archived() == [archived]
    # The index is not touched: an archive is not a session.
    assert await store.list_sessions() == []
    assert await store.get_session(archived.session_key) is None


async def test_import_archived_beside_live_sessions_of_the_same_key(store: SessionStore) -> None:
    live = entry("agent:main:main", "live-1")
    await store.put_session(live)
    await store.append_messages(live, [user("live")])
    older = ArchivedTranscript(session_key=live.key, session_id="old-1", archived_at=10.0, created_at=5.0)
    await store.import_archived(older, [user("old", id="o1")])
    assert await store.list_archived() == [older]
    assert contents(await store.load_archived(older)) == ["old"]
    assert contents(await store.load_messages(live)) == ["live"]
    assert await store.get_session(live.key) == live


async def test_import_archived_refuses_a_live_session_id(store: SessionStore) -> None:
    live = entry()
    await store.put_session(live)
    await store.append_messages(live, [user("mine")])
    clash = ArchivedTranscript(session_key="agent:main:other", session_id=live.session_id)
    with pytest.raises(StorageError, match=live.session_id):
        await store.import_archived(clash, [user("theirs", id="t1")])
    assert contents(await store.load_messages(live)) == ["mine"]
    assert await store.list_archived() == []


async def test_import_archived_of_no_messages_stores_nothing(store: SessionStore) -> None:
    await store.import_archived(ArchivedTranscript(session_key="agent:main:x", session_id="empty-1"), [])
    assert await store.list_archived() == []


async def test_archived_transcripts_survive_a_reopen(opener: Opener) -> None:
    first = opener()
    await first.start()
    try:
        old = entry("agent:main:main", "s-old")
        await first.put_session(old)
        stored = await first.append_messages(old, [user("before reset"), ChatMessage(role="assistant", content="ok")])
        await first.reset_session(old.key, "s-fresh", 1_700_000_900.0)
        imported = ArchivedTranscript(
            session_key="agent:main:web:direct:u1", session_id="imp-1", archived_at=1_600_000_000.0, created_at=1.5
        )
        await first.import_archived(imported, archived_conversation("i"))
        listed = await first.list_archived()
    finally:
        await first.aclose()

    second = opener()
    await second.start()
    try:
        assert await second.list_archived() == listed
        assert [a.session_id for a in listed] == ["s-old", "imp-1"]
        assert await second.load_archived(listed[0]) == stored
        assert await second.load_archived(listed[1]) == archived_conversation("i")
        # A resumed import after the reopen adds nothing.
        await second.import_archived(imported, archived_conversation("i"))
        assert await second.load_archived(imported) == archived_conversation("i")
    finally:
        await second.aclose()
