"""At-least-once delivery on Discord: every MESSAGE_CREATE is journaled as it arrives (Discord never
sends it again), turns in flight at a stop are answered once after the restart, and a send that
fails twice then succeeds is delivered once. Real DiscordChannel (hikari) against the Discord
stand-in, SQLite store and journal on a state folder that outlives each "process"."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from rustyclaw.adapters.channels.discord import DiscordChannel
from rustyclaw.adapters.channels.supervisor import ChannelSupervisor
from rustyclaw.adapters.inbox.sqlite import SqliteInbox
from tests.fixtures.discord_standin import DiscordStandIn
from tests.integration.channel_kit import OPEN, fast_backoff, until
from tests.integration.journal_kit import FAST_SENDS, HeldLLM, journaled, journaled_gateway, settled

pytestmark = pytest.mark.anyio
USERS = ("900000000000000001", "900000000000000002")


@dataclass
class Running:
    llm: HeldLLM
    inbox: SqliteInbox


@asynccontextmanager
async def gateway_process(standin: DiscordStandIn, state: Path, *, held: bool = False,
                          drain: float = 0.0) -> AsyncIterator[Running]:
    channel = DiscordChannel(standin.token, rest_url=standin.base_url, send_retry=FAST_SENDS, rest_retries=0)
    async with journaled_gateway(state, {"discord": OPEN}, held=held, drain=drain) as kit, \
            ChannelSupervisor([channel], kit.dispatcher, backoff=fast_backoff) as supervisor:
        await supervisor.wait_started()
        assert supervisor.status()[0].state == "running", supervisor.status()
        yield Running(kit.llm, kit.inbox)


def texts(standin: DiscordStandIn, user: str) -> list[str]:
    return [m.get("content", "") for m in standin.sent(standin.dm_channel_of(user))]


async def test_turns_in_flight_at_a_stop_are_answered_once_after_the_restart(
    discord_standin: DiscordStandIn, tmp_path: Path,
) -> None:
    standin = discord_standin
    async with gateway_process(standin, tmp_path, held=True, drain=0.1) as first:
        for user in USERS:
            await standin.user_message(f"one from {user[-1]}", user_id=user)
            await standin.user_message(f"two from {user[-1]}", user_id=user)
        await journaled(first.inbox, 4)  # each message is on disk as it arrives
        await until(lambda: first.llm.started == len(USERS))
    assert all(texts(standin, user) == [] for user in USERS)
    async with gateway_process(standin, tmp_path) as second:
        for user in USERS:
            await standin.wait_sent(standin.dm_channel_of(user), 2)
            assert sorted(texts(standin, user)) == sorted([f"echo: one from {user[-1]}",
                                                           f"echo: two from {user[-1]}"])
        counts = await settled(second.inbox, 4)
        assert (counts.delivered, counts.failed) == (4, 0)
        assert second.llm.turns == 4


async def test_a_send_that_fails_twice_then_succeeds_is_delivered_once(
    discord_standin: DiscordStandIn, tmp_path: Path,
) -> None:
    standin = discord_standin
    standin.fail_sends(2, status=500)
    async with gateway_process(standin, tmp_path) as running:
        await standin.user_message("ping", user_id=USERS[0])
        await standin.wait_sent(standin.dm_channel_of(USERS[0]), 1)
        counts = await settled(running.inbox, 1)
        assert (counts.delivered, counts.failed) == (1, 0)
    assert texts(standin, USERS[0]) == ["echo: ping"] and standin.create_calls == 3


async def test_missing_access_is_recorded_as_failed_without_retries(
    discord_standin: DiscordStandIn, tmp_path: Path,
) -> None:
    standin = discord_standin
    standin.fail_sends(1, status=403)
    async with gateway_process(standin, tmp_path) as running:
        await standin.user_message("ping", user_id=USERS[1])
        assert (await settled(running.inbox, 1)).failed == 1
        (entry,) = await running.inbox.failures()
        assert "403" in (entry.error or "")
    assert standin.create_calls == 1
