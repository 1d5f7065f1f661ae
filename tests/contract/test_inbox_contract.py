"""One contract for every inbound journal (ports/inbox.py): memory, SQLite, PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from rustyclaw.adapters.inbox.memory import MemoryInbox
from rustyclaw.adapters.inbox.postgres import PostgresInbox
from rustyclaw.adapters.inbox.sqlite import SqliteInbox
from rustyclaw.domain.messages import InboundMessage, OutboundMessage
from rustyclaw.ports.inbox import Inbox, inbox_key
from tests.fixtures.postgres_schema import temporary_schema

pytestmark = pytest.mark.anyio


def message(n: int, *, channel: str = "telegram", account: str = "default") -> InboundMessage:
    return InboundMessage(channel=channel, account=account, peer_id="42", sender_id="42", text=f"m{n}",
                          message_id=f"42:{n}")


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def inbox(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Inbox]:
    if request.param == "postgres":
        async with temporary_schema("inbox") as dsn:
            journal: Inbox = PostgresInbox(dsn, owner="host-a")
            await journal.start()
            try:
                yield journal
            finally:
                await journal.aclose()
        return
    journal = MemoryInbox() if request.param == "memory" else SqliteInbox.in_state_dir(tmp_path)
    await journal.start()
    try:
        yield journal
    finally:
        await journal.aclose()


async def test_record_once_then_a_duplicate(inbox: Inbox) -> None:
    assert await inbox.record(message(1), 10.0)
    assert not await inbox.record(message(1), 11.0)
    assert await inbox.record(message(1, account="other"), 11.0)  # keys are per channel account
    (entry,) = await inbox.unfinished("telegram", "default")
    assert entry.key == inbox_key(message(1)) == "telegram:default:42:1"
    assert (entry.state, entry.message, entry.received_at) == ("received", message(1), 10.0)


async def test_an_entry_moves_from_received_to_replied_to_delivered(inbox: Inbox) -> None:
    for n in (1, 2, 3):
        await inbox.record(message(n), float(n))
    reply = OutboundMessage(channel="telegram", peer_id="42", text="answer", reply_to="42:2")
    await inbox.replied("telegram:default:42:2", reply, 5.0)
    await inbox.finish("telegram:default:42:3", "delivered", 6.0)
    entries = await inbox.unfinished("telegram", "default")
    assert [(e.message.text, e.state) for e in entries] == [("m1", "received"), ("m2", "replied")]
    assert entries[1].reply == reply
    await inbox.finish("telegram:default:42:1", "done", 7.0)
    await inbox.finish("telegram:default:42:2", "failed", 8.0, error="blocked", attempts=4)
    assert await inbox.unfinished("telegram", "default") == []
    (failed,) = await inbox.failures()
    assert (failed.error, failed.attempts, failed.reply) == ("blocked", 4, reply)
    counts = await inbox.counts()
    assert (counts.unfinished, counts.failed, counts.delivered) == (0, 1, 1)


async def test_unfinished_is_per_channel_account_and_oldest_first(inbox: Inbox) -> None:
    await inbox.record(message(2), 2.0)
    await inbox.record(message(1), 1.0)
    await inbox.record(message(3, channel="discord"), 0.5)
    assert [e.message.text for e in await inbox.unfinished("telegram", "default")] == ["m1", "m2"]
    assert [e.message.text for e in await inbox.unfinished("discord", "default")] == ["m3"]


async def test_prune_drops_old_finished_entries_only(inbox: Inbox) -> None:
    for n in (1, 2, 3):
        await inbox.record(message(n), 1.0)
    await inbox.finish("telegram:default:42:1", "delivered", 2.0)
    await inbox.finish("telegram:default:42:2", "failed", 2.0, error="x")
    assert await inbox.prune(before=3.0) == 1
    assert (await inbox.counts()).failed == 1 and len(await inbox.unfinished("telegram", "default")) == 1


@pytest.mark.postgres
async def test_replicas_never_claim_each_others_live_entries() -> None:
    async with temporary_schema("inbox") as dsn:
        a, b = PostgresInbox(dsn, owner="host-a"), PostgresInbox(dsn, owner="host-b", stale_seconds=3600)
        await a.start()
        await b.start()
        try:
            import time

            await a.record(message(1), time.time())
            assert await b.unfinished("telegram", "default") == []  # host-a is working on it
            assert len(await a.unfinished("telegram", "default")) == 1  # host-a after its restart
            await b.aclose()
            b = PostgresInbox(dsn, owner="host-b", stale_seconds=0)  # host-a is gone for good
            await b.start()
            assert len(await b.unfinished("telegram", "default")) == 1
        finally:
            await a.aclose()
            await b.aclose()


async def test_get_returns_an_entry_and_reply_once_keeps_the_first_reply(inbox: Inbox) -> None:
    # The HTTP APIs' Idempotency-Key: a retry reads the first attempt's entry; two attempts that
    # both finished keep (and answer with) the first reply only.
    assert await inbox.get("telegram:default:42:1") is None
    await inbox.record(message(1), 1.0)
    entry = await inbox.get("telegram:default:42:1")
    assert entry is not None and (entry.state, entry.message, entry.reply) == ("received", message(1), None)
    first = OutboundMessage(channel="telegram", peer_id="42", text="first")
    second = OutboundMessage(channel="telegram", peer_id="42", text="second")
    assert await inbox.reply_once("telegram:default:42:1", first, 2.0) == first
    assert await inbox.reply_once("telegram:default:42:1", second, 3.0) == first
    await inbox.finish("telegram:default:42:1", "delivered", 4.0)
    entry = await inbox.get("telegram:default:42:1")
    assert entry is not None and (entry.state, entry.reply) == ("delivered", first)
    assert await inbox.reply_once("telegram:default:9:9", first, 5.0) is None
