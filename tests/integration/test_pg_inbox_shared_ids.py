"""The PostgreSQL inbound journal as the replicas' shared duplicate filter (adapters/inbox/postgres.py):
two journals over one schema (two replicas) take a platform message id once, and with a retention
(`keep_seconds`, serve's under gateway.replicas) a record drops answered entries past it at most
once per `prune_every`, while unanswered ones and recent ones stay. Times are the `now` arguments.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from rustyclaw.adapters.inbox.postgres import PostgresInbox
from rustyclaw.domain.messages import InboundMessage
from tests.fixtures.postgres_schema import temporary_schema

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]

KEEP = 1000.0
EVERY = 100.0


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def dsn() -> AsyncIterator[str]:
    async with temporary_schema("inbox") as schema_dsn:
        yield schema_dsn


def message(ident: str, channel: str = "whatsapp") -> InboundMessage:
    return InboundMessage(channel=channel, peer_id="p", sender_id="p", text="hi", message_id=ident)


async def test_two_replicas_take_one_message_id_once(dsn: str) -> None:
    a, b = PostgresInbox(dsn, owner="a"), PostgresInbox(dsn, owner="b")
    await a.start()
    await b.start()
    try:
        assert await a.record(message("wamid.1"), 1.0) is True
        assert await b.record(message("wamid.1"), 2.0) is False  # the retry on the other replica
        assert await b.record(message("wamid.1", channel="telegram"), 2.0) is True  # another channel's id
        assert (await a.counts()).unfinished == 2
    finally:
        await a.aclose()
        await b.aclose()


async def test_a_record_drops_answered_entries_past_the_retention_at_most_once_per_interval(dsn: str) -> None:
    inbox = PostgresInbox(dsn, owner="a", keep_seconds=KEEP, prune_every=EVERY)
    await inbox.start()

    async def answered(ident: str, at: float) -> None:
        assert await inbox.record(message(ident), at)
        await inbox.finish(f"whatsapp:default:{ident}", "delivered", at)

    try:
        await answered("first", 0.0)  # this record pruned too (nothing was old): the interval starts at 0
        assert await inbox.record(message("open"), 10.0)  # never answered: kept for the restart
        await answered("second", 1005.0)  # a prune: "first" (answered at 0) is past KEEP
        counts = await inbox.counts()
        assert (counts.delivered, counts.unfinished) == (1, 1)

        assert await inbox.record(message("third"), 1006.0)
        await inbox.finish("whatsapp:default:third", "delivered", 6.0)  # answered long ago, as far as KEEP goes
        assert await inbox.record(message("fourth"), 1050.0)  # within EVERY of the last prune: none
        assert (await inbox.counts()).delivered == 2
        assert await inbox.record(message("fifth"), 1105.0)  # a prune: "third" goes, "second" stays
        counts = await inbox.counts()
        assert (counts.delivered, counts.unfinished) == (1, 3)
        assert await inbox.record(message("first"), 1106.0) is True  # its id is forgotten with its row
    finally:
        await inbox.aclose()


async def test_without_a_retention_record_never_prunes(dsn: str) -> None:
    inbox = PostgresInbox(dsn, owner="a")
    await inbox.start()
    try:
        assert await inbox.record(message("old"), 0.0)
        await inbox.finish("whatsapp:default:old", "delivered", 0.0)
        assert await inbox.record(message("new"), 1e9)
        assert (await inbox.counts()).delivered == 1
        assert await inbox.record(message("old"), 1e9) is False
    finally:
        await inbox.aclose()
