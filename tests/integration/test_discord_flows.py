"""Discord end to end: hikari's real gateway shard and REST client against the local stand-in
(zlib-stream gateway + REST), the supervisor, the dispatcher, access control and a real Gateway.

The model is a stub defined here (`ReplyLLM`: it echoes the user's text, or answers a set text)
so each flow can check which message was answered.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import anyio
import pytest

from rustyclaw.adapters.channels.backoff import Backoff
from rustyclaw.adapters.channels.discord import DiscordChannel, discord_channel_from_config
from rustyclaw.adapters.channels.supervisor import ChannelSupervisor
from rustyclaw.adapters.clock import SystemClock
from rustyclaw.adapters.pairing.memory import MemoryPairingStore
from rustyclaw.config.channels import DiscordConfig
from rustyclaw.domain.access import ChannelAccess
from rustyclaw.domain.dispatch import ChannelDispatcher
from rustyclaw.domain.errors import ChannelError, ConfigError
from rustyclaw.domain.pairing import CODE_ALPHABET, PairingService
from rustyclaw.ports.channel import Channel
from tests.channel_contract.contract import QUIET_SECONDS, Recorder
from tests.fixtures.discord_standin import DiscordStandIn
from tests.integration.channel_kit import OPEN, ReplyLLM, build_gateway, fast_backoff, until

pytestmark = pytest.mark.anyio
GUILD = "800000000000000001"
CHANNEL = "810000000000000001"


@dataclass
class Flow:
    standin: DiscordStandIn
    channel: DiscordChannel
    llm: ReplyLLM
    supervisor: ChannelSupervisor


@pytest.fixture
async def flow(discord_standin: DiscordStandIn) -> AsyncIterator[Flow]:
    llm = ReplyLLM()
    gateway = await build_gateway(llm, {"discord": OPEN})
    channel = DiscordChannel(discord_standin.token, rest_url=discord_standin.base_url)

    def dispatcher(ch: Channel) -> ChannelDispatcher:
        return ChannelDispatcher(gateway, ch)

    async with ChannelSupervisor([channel], dispatcher, backoff=fast_backoff) as supervisor:
        await supervisor.wait_started()
        assert supervisor.status()[0].state == "running", supervisor.status()
        yield Flow(discord_standin, channel, llm, supervisor)


async def test_a_dm_goes_in_and_the_reply_comes_out_through_rest(flow: Flow) -> None:
    standin = flow.standin
    sent = await standin.user_message("hello bot", user_id="4001")
    dm = standin.dm_channel_of("4001")
    [reply] = await standin.wait_sent(dm, 1)
    assert reply["content"] == "echo: hello bot"
    assert "message_reference" not in reply  # DMs do not quote
    assert reply["allowed_mentions"] == {"parse": []}  # the bot's replies never ping anyone
    assert dm in standin.typing
    assert standin.compression == ["zlib-stream"]
    assert flow.llm.seen == ["hello bot"]
    assert sent["channel_id"] == dm


async def test_a_guild_message_needs_a_mention(flow: Flow) -> None:
    standin = flow.standin
    await standin.user_message("nobody asked you", user_id="4002", channel_id=CHANNEL, guild_id=GUILD)
    asked = await standin.user_message(f"<@{standin.bot_id}> what time is it?", user_id="4002",
                                       channel_id=CHANNEL, guild_id=GUILD, mention_bot=True)
    [reply] = await standin.wait_sent(CHANNEL, 1)
    await anyio.sleep(QUIET_SECONDS)
    assert standin.sent(CHANNEL) == [reply]
    assert reply["content"] == "echo: what time is it?"  # the mention is cut out for the model
    assert reply["message_reference"]["message_id"] == asked["id"]  # the answer quotes the question
    assert flow.llm.seen == ["what time is it?"]


async def test_a_reply_to_the_bot_counts_as_a_mention(flow: Flow) -> None:
    from tests.fixtures.discord_standin import message_payload, snowflake, user_payload

    standin = flow.standin
    earlier = message_payload(snowflake(), CHANNEL, standin.bot_user, "an earlier answer", guild_id=GUILD)
    payload = message_payload(snowflake(), CHANNEL, user_payload("4003", "alice"), "and a follow-up",
                              guild_id=GUILD, reference={"message_id": earlier["id"], "channel_id": CHANNEL})
    payload["referenced_message"] = earlier
    await standin.dispatch("MESSAGE_CREATE", payload)
    [reply] = await standin.wait_sent(CHANNEL, 1)
    assert reply["content"] == "echo: and a follow-up"
    assert flow.llm.seen == ["and a follow-up"]


async def test_a_4500_character_reply_arrives_as_three_messages_in_order(flow: Flow) -> None:
    words = [f"w{i:04d}" for i in range(750)]  # 750 x 6 chars = 4500 with the spaces
    flow.llm.reply = " ".join(words)
    assert len(flow.llm.reply) == 4499
    await flow.standin.user_message("tell me a lot", user_id="4004")
    dm = flow.standin.dm_channel_of("4004")
    pieces = [m["content"] for m in await flow.standin.wait_sent(dm, 3)]
    await anyio.sleep(QUIET_SECONDS)
    assert len(flow.standin.sent(dm)) == 3
    assert all(0 < len(p) <= 2000 for p in pieces)
    assert " ".join(pieces).split() == words


async def test_the_bots_own_messages_and_empty_ones_are_not_answered(flow: Flow) -> None:
    from tests.fixtures.discord_standin import message_payload, snowflake

    standin = flow.standin
    dm = standin.dm_channel_of("4005")
    await standin.dispatch("MESSAGE_CREATE", message_payload(snowflake(), dm, standin.bot_user, "my own words"))
    await standin.user_message("", user_id="4005")  # e.g. a sticker: no text, no file
    await standin.user_message("a real question", user_id="4005")
    [reply] = await standin.wait_sent(dm, 1)
    await anyio.sleep(QUIET_SECONDS)
    assert reply["content"] == "echo: a real question"
    assert flow.llm.seen == ["a real question"]


async def test_a_redelivered_message_is_answered_once(flow: Flow) -> None:
    standin = flow.standin
    payload = await standin.user_message("only once", user_id="4006")
    await standin.dispatch("MESSAGE_CREATE", payload)
    dm = standin.dm_channel_of("4006")
    await standin.wait_sent(dm, 1)
    await anyio.sleep(QUIET_SECONDS)
    assert len(standin.sent(dm)) == 1 and flow.llm.turns == 1


async def test_the_bot_resumes_after_the_websocket_drops(flow: Flow) -> None:
    standin = flow.standin
    await standin.user_message("before", user_id="4007")
    dm = standin.dm_channel_of("4007")
    await standin.wait_sent(dm, 1)
    await standin.drop_connections()
    await until(lambda: flow.channel.state == "reconnecting")
    assert flow.supervisor.status()[0].state == "reconnecting"
    # Sent while the bot is away: Discord replays it when the session resumes.
    await standin.user_message("while away", user_id="4007")
    replies = await standin.wait_sent(dm, 2)
    assert [r["content"] for r in replies] == ["echo: before", "echo: while away"]
    assert standin.resumes == 1 and standin.identifies == 1
    await until(lambda: flow.channel.state == "running")
    assert flow.supervisor.status()[0].restarts == 0  # hikari reconnected on its own


async def test_the_bot_comes_back_after_the_server_restarts(flow: Flow) -> None:
    standin = flow.standin
    await standin.stop()
    await until(lambda: flow.channel.state == "reconnecting")
    await standin.start()  # same port, sessions kept: the shard resumes
    await standin.wait_ready_sessions(2, within=30)
    await standin.user_message("after the restart", user_id="4008")
    [reply] = await standin.wait_sent(standin.dm_channel_of("4008"), 1)
    assert reply["content"] == "echo: after the restart"


async def test_an_unknown_sender_gets_a_pairing_code(discord_standin: DiscordStandIn) -> None:
    llm = ReplyLLM()
    clock = SystemClock()
    gateway = await build_gateway(llm, {"discord": ChannelAccess()},
                                  PairingService(MemoryPairingStore(), clock))
    channel = DiscordChannel(discord_standin.token, rest_url=discord_standin.base_url)
    async with ChannelSupervisor([channel], lambda ch: ChannelDispatcher(gateway, ch)) as supervisor:
        await supervisor.wait_started()
        await discord_standin.user_message("hi, who are you?", user_id="4009")
        [reply] = await discord_standin.wait_sent(discord_standin.dm_channel_of("4009"), 1)
    assert re.search(rf"\b[{CODE_ALPHABET}]{{8}}\b", reply["content"])
    assert "rustyclaw pairing approve discord" in reply["content"]
    assert llm.turns == 0


async def test_a_voice_message_arrives_as_a_voice_attachment(discord_standin: DiscordStandIn) -> None:
    recorder = Recorder()
    channel = DiscordChannel(discord_standin.token, rest_url=discord_standin.base_url)
    await channel.start(recorder)
    try:
        attachment = {"id": "1300000000000000001", "filename": "voice-message.ogg", "size": 5120,
                      "url": "https://cdn.discordapp.com/attachments/1/2/voice-message.ogg",
                      "proxy_url": "https://media.discordapp.net/attachments/1/2/voice-message.ogg",
                      "content_type": "audio/ogg", "duration_secs": 2.5, "waveform": "AAAA"}
        await discord_standin.user_message("", user_id="4010", attachments=[attachment], flags=1 << 13)
        [message] = await recorder.wait_for(1)
    finally:
        await channel.aclose()
    [voice] = message.attachments
    assert (voice.kind, voice.mime, voice.size, voice.name) == ("voice", "audio/ogg", 5120, "voice-message.ogg")
    assert voice.url == attachment["url"]


async def test_a_refused_token_fails_the_start_with_a_channel_error(discord_standin: DiscordStandIn) -> None:
    other = DiscordStandIn()  # never started: only its token, which this stand-in does not accept
    channel = DiscordChannel(other.token, rest_url=discord_standin.base_url)
    with pytest.raises(ChannelError, match="token was refused"):
        await channel.start(Recorder())
    await channel.aclose()
    with pytest.raises(ChannelError, match="not running"):
        await channel.send(_out("1", "x"))


async def test_a_start_that_hangs_is_cut_by_the_supervisor_and_leaves_no_connection(
    discord_standin: DiscordStandIn,
) -> None:
    discord_standin.silent = True
    channel = DiscordChannel(discord_standin.token, rest_url=discord_standin.base_url)
    async with ChannelSupervisor([channel], lambda _: Recorder(), start_timeout=1,
                                 backoff=lambda: Backoff(initial=5, cap=5)) as supervisor:
        await supervisor.wait_started()
        [status] = supervisor.status()
        assert status.state == "failed" and "start took over 1 s" in (status.last_error or "")
        await until(lambda: discord_standin.open_sockets == 0, within=5)
        await anyio.sleep(QUIET_SECONDS)  # and the abandoned bot does not dial again
        assert discord_standin.open_sockets == 0 and len(discord_standin.compression) == 1


def test_a_malformed_token_is_a_config_error() -> None:
    from rustyclaw.adapters.channels.hikari_lean import import_hikari

    import_hikari()
    with pytest.raises(ConfigError, match="token"):
        DiscordChannel("not a token")._make_bot()
    with pytest.raises(ConfigError, match="token"):
        discord_channel_from_config(DiscordConfig.model_validate({"token": None}))


def test_config_mapping() -> None:
    channel = discord_channel_from_config(DiscordConfig.model_validate(
        {"enabled": True, "token": "abc.def.ghi", "restBaseUrl": "http://h:1/", "dmPolicy": "pairing"}))
    assert channel.name == "discord" and channel.text_limit == 2000
    assert channel._rest_url == "http://h:1/api/v10"
    pinned = DiscordConfig.model_validate({"token": "a.b.c", "restBaseUrl": "http://h:1/api/v9"})
    assert discord_channel_from_config(pinned)._rest_url == "http://h:1/api/v9"


def _out(peer: str, text: str) -> Any:
    from rustyclaw.domain.messages import OutboundMessage

    return OutboundMessage(channel="discord", peer_id=peer, text=text)
