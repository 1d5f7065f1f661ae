"""The TranscriptArchive contract (ports/archive.py), run against every backend in backends.py.

Archives come from resets, so these tests use the session store part of a backend too."""

from __future__ import annotations

import pytest

from rustyclaw.domain.errors import StorageError
from rustyclaw.domain.messages import ChatMessage
from rustyclaw.ports.archive import ArchivedTranscript
from rustyclaw.ports.storage import StorageBackend

from .backends import Opener
from .samples import archived_conversation, contents, entry, full_entry, user

pytestmark = pytest.mark.anyio


async def test_a_reset_lists_the_old_transcript_as_archived(store: StorageBackend) -> None:
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


async def test_every_reset_archives_one_transcript_in_key_and_time_order(store: StorageBackend) -> None:
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


async def test_moving_a_key_to_a_new_session_id_archives_the_old_transcript(store: StorageBackend) -> None:
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


async def test_import_archived_round_trips_and_is_idempotent(store: StorageBackend) -> None:
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


async def test_import_archived_beside_live_sessions_of_the_same_key(store: StorageBackend) -> None:
    live = entry("agent:main:main", "live-1")
    await store.put_session(live)
    await store.append_messages(live, [user("live")])
    older = ArchivedTranscript(session_key=live.key, session_id="old-1", archived_at=10.0, created_at=5.0)
    await store.import_archived(older, [user("old", id="o1")])
    assert await store.list_archived() == [older]
    assert contents(await store.load_archived(older)) == ["old"]
    assert contents(await store.load_messages(live)) == ["live"]
    assert await store.get_session(live.key) == live


async def test_import_archived_refuses_a_live_session_id(store: StorageBackend) -> None:
    live = entry()
    await store.put_session(live)
    await store.append_messages(live, [user("mine")])
    clash = ArchivedTranscript(session_key="agent:main:other", session_id=live.session_id)
    with pytest.raises(StorageError, match=live.session_id):
        await store.import_archived(clash, [user("theirs", id="t1")])
    assert contents(await store.load_messages(live)) == ["mine"]
    assert await store.list_archived() == []


async def test_import_archived_of_no_messages_stores_nothing(store: StorageBackend) -> None:
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
