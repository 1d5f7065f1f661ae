"""The channel contract against DiscordChannel: real hikari, the local gateway + REST stand-in."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator

import pytest

from rustyclaw.adapters.channels.discord import DiscordChannel
from tests.channel_contract.contract import ChannelContract, ChannelHarness
from tests.fixtures.discord_standin import DiscordStandIn

_users = itertools.count(30_000)


class DiscordHarness:
    """Users write DMs through the stand-in's gateway; the bot's posts are read from its REST log."""

    def __init__(self, standin: DiscordStandIn) -> None:
        self.standin = standin

    def make_channel(self) -> DiscordChannel:
        return DiscordChannel(self.standin.token, rest_url=self.standin.base_url)

    def new_user(self) -> str:
        return str(next(_users))

    def peer_of(self, user: str) -> str:
        return self.standin.dm_channel_of(user)

    async def inject(self, user: str, text: str) -> None:
        await self.standin.user_message(text, user_id=user)

    async def delivered(self, peer_id: str) -> list[str]:
        return [str(m.get("content", "")) for m in self.standin.take_sent(peer_id)]


class TestDiscordContract(ChannelContract):
    @pytest.fixture
    async def harness(self, discord_standin: DiscordStandIn) -> AsyncIterator[ChannelHarness]:
        yield DiscordHarness(discord_standin)
