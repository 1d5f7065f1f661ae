"""Send-only channels (`allow_send_only`, used by a follower replica for the leader's channels): a
Telegram or Discord channel that was never started sends through a client of its own and never
receives (no getUpdates, no gateway connection); without it, sending still needs a started channel."""

from __future__ import annotations

import pytest

from rustyclaw.adapters.channels.discord import DiscordChannel
from rustyclaw.adapters.channels.telegram import TelegramChannel
from rustyclaw.domain.errors import ChannelError
from rustyclaw.domain.messages import OutboundMessage
from rustyclaw.ports.channel import SendOnlyChannel
from tests.fixtures.discord_standin import DiscordStandIn
from tests.fixtures.telegram_standin import TelegramStandIn

pytestmark = pytest.mark.anyio
CHAT = 4242


def _to(channel: str, peer: str, text: str) -> OutboundMessage:
    return OutboundMessage(channel=channel, peer_id=peer, text=text)


async def test_telegram_sends_without_receiving_only_when_allowed(telegram_standin: TelegramStandIn) -> None:
    channel = TelegramChannel(telegram_standin.token, api_base_url=telegram_standin.base_url)
    assert isinstance(channel, SendOnlyChannel)
    with pytest.raises(ChannelError, match="not running"):  # the default is unchanged
        await channel.send(_to("telegram", str(CHAT), "too early"))

    channel.allow_send_only()
    try:
        await channel.send(_to("telegram", str(CHAT), "one"))
        await channel.send(_to("telegram", str(CHAT), "two"))
    finally:
        await channel.close_send_only()
    assert telegram_standin.sent(CHAT) == ["one", "two"]
    assert telegram_standin.calls == ["sendMessage", "sendMessage"]  # no getMe, no getUpdates
    assert channel.state == "stopped"


async def test_discord_sends_without_a_gateway_connection_only_when_allowed(discord_standin: DiscordStandIn) -> None:
    channel = DiscordChannel(discord_standin.token, rest_url=discord_standin.base_url)
    assert isinstance(channel, SendOnlyChannel)
    peer = discord_standin.dm_channel_of("31000")
    with pytest.raises(ChannelError, match="not running"):
        await channel.send(_to("discord", peer, "too early"))

    channel.allow_send_only()
    try:
        await channel.send(_to("discord", peer, "hello"))
    finally:
        await channel.close_send_only()
    assert [m.get("content") for m in discord_standin.sent(peer)] == ["hello"]
    assert discord_standin.identifies == 0 and discord_standin.open_sockets == 0
    assert channel.state == "stopped"
