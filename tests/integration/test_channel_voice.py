"""Voice notes through the push channels, end to end with the real voice models.

A sentence spoken by Piper and encoded to OGG/Opus goes in as each platform delivers a voice note
(Telegram: a registered file and a `voice` update; WhatsApp: a signed webhook with an audio
media id; Discord: a voice-flagged message with a CDN attachment). The real client libraries
(aiogram, httpx, hikari) fetch it from the stand-ins, a real Gateway (in-memory store, a stub
model) hears it, and the answer comes back as text and as an OGG/Opus voice note the stand-in
captured. Bad audio and a file the platform cannot serve get a clear text reply.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

from rustyclaw.adapters.channels.discord import DiscordChannel
from rustyclaw.adapters.channels.supervisor import ChannelSupervisor
from rustyclaw.adapters.channels.telegram import TelegramChannel
from rustyclaw.adapters.channels.whatsapp import WhatsAppChannel
from rustyclaw.adapters.voice.service import VoiceNoteService
from rustyclaw.domain.dispatch import ChannelDispatcher
from rustyclaw.domain.gateway import Gateway
from rustyclaw.ports.channel import MEDIA_LIMIT, Channel
from tests.channel_contract.contract import QUIET_SECONDS
from tests.channel_contract.harness_http import serving
from tests.fixtures.discord_standin import DiscordStandIn
from tests.fixtures.graph_standin import (
    ACCESS_TOKEN,
    API_VERSION,
    APP_SECRET,
    PHONE_NUMBER_ID,
    VERIFY_TOKEN,
    GraphStandIn,
    WebhookSender,
    audio_message,
)
from tests.fixtures.telegram_emulator import TelegramEmulator, telegram_emulator, telegram_token
from tests.integration.channel_kit import OPEN, ReplyLLM, build_gateway

from .voice_kit import SENTENCE, decode_ogg, service, words

__all__ = ["telegram_emulator", "telegram_token"]
pytestmark = [pytest.mark.anyio, pytest.mark.slow]

ANSWER = "Sure, I will remind you."
CORRUPT = b"OggS\x00\x02" + bytes(range(256)) * 8  # an OGG page header and then noise
_file_ids = itertools.count(1)


def assert_voice_note(data: bytes) -> None:
    codec, rate, seconds, container = decode_ogg(data)
    assert (codec, rate, container) == ("opus", 48000, "ogg")
    assert seconds > 0.8


@pytest.fixture
async def voice() -> AsyncIterator[VoiceNoteService]:
    engines = service(auto="inbound")
    try:
        yield engines
    finally:
        await engines.aclose()


def supervised(gateway: Gateway, channel: Any) -> ChannelSupervisor:
    def dispatcher(ch: Channel) -> ChannelDispatcher:
        return ChannelDispatcher(gateway, ch)

    return ChannelSupervisor([channel], dispatcher)


# -- Telegram -----------------------------------------------------------------------------------
async def test_telegram_voice_note_in_and_spoken_reply_out(
    telegram_emulator: TelegramEmulator, telegram_token: str, voice: VoiceNoteService
) -> None:
    emulator, token = telegram_emulator, telegram_token
    llm = ReplyLLM(ANSWER)
    gateway = await build_gateway(llm, {"telegram": OPEN}, voice=voice)
    channel = TelegramChannel(token, api_base_url=emulator.base_url, poll_interval=0.05)
    note = await voice.speak(SENTENCE)
    assert note.data is not None
    async with supervised(gateway, channel) as supervisor:
        await supervisor.wait_started()
        file_id = f"AwACAgQAAxkBAAI{next(_file_ids)}"
        await emulator.add_file(token, file_id, note.data)
        await emulator.inject_update(token, emulator.voice_update(file_id, size=len(note.data)))

        assert await emulator.wait_bot_texts(token, 1001, 1, within=60) == [ANSWER]
        [sent] = await emulator.wait_bot_voices(token, 1001, 1)
        assert words(llm.seen[0]) == words(SENTENCE)
        assert sent["chat_id"] == "1001"
        assert_voice_note(sent["data"])

        # Bad audio from the platform: a clear text reply, no turn, no voice note.
        bad_id = f"AwACAgQAAxkBAAI{next(_file_ids)}"
        await emulator.add_file(token, bad_id, CORRUPT)
        await emulator.inject_update(token, emulator.voice_update(bad_id, size=len(CORRUPT)))
        [bad] = await emulator.wait_bot_texts(token, 1001, 1, within=30)
        assert bad.startswith("Sorry, I couldn't use that voice note"), bad

        # A file the Bot API cannot serve (never registered): the chat is told, nothing crashes.
        await emulator.inject_update(token, emulator.voice_update("AwACmissing", size=1000))
        [missing] = await emulator.wait_bot_texts(token, 1001, 1, within=30)
        assert "couldn't download that voice note" in missing, missing

        assert len(llm.seen) == 1
        assert await emulator.wait_bot_voices(token, 1001, 0) == []
        # and typed text still works afterwards
        await emulator.user_message(token, "thanks")
        assert await emulator.wait_bot_texts(token, 1001, 1) == [ANSWER]
        assert supervisor.status()[0].state == "running"


async def test_telegram_voice_note_over_the_size_cap_is_refused_without_a_download(
    telegram_emulator: TelegramEmulator, telegram_token: str
) -> None:
    emulator, token = telegram_emulator, telegram_token
    llm = ReplyLLM(ANSWER)
    gateway = await build_gateway(llm, {"telegram": OPEN}, voice=service())  # engines never load: nothing is heard
    channel = TelegramChannel(token, api_base_url=emulator.base_url, poll_interval=0.05)
    async with supervised(gateway, channel) as supervisor:
        await supervisor.wait_started()
        # Never registered: a download attempt would answer "couldn't download" instead.
        await emulator.inject_update(token, emulator.voice_update("AwACbig", size=MEDIA_LIMIT + 1))
        [reply] = await emulator.wait_bot_texts(token, 1001, 1)
        assert reply == "Sorry, that voice note is too large (over 20 MB).", reply
        assert llm.seen == []


# -- WhatsApp -----------------------------------------------------------------------------------
WEBHOOK_PATH = "/channels/whatsapp/webhook"
USER = "16315551181"


async def test_whatsapp_voice_note_in_and_spoken_reply_out(
    graph_standin: GraphStandIn, voice: VoiceNoteService
) -> None:
    llm = ReplyLLM(ANSWER)
    gateway = await build_gateway(llm, {"whatsapp": OPEN}, voice=voice)
    channel = WhatsAppChannel(ACCESS_TOKEN, APP_SECRET, VERIFY_TOKEN, PHONE_NUMBER_ID,
                              api_base_url=graph_standin.url, api_version=API_VERSION)
    note = await voice.speak(SENTENCE)
    assert note.data is not None
    graph_standin.add_media("1037543291543636", note.data)
    graph_standin.add_media("1037543291549999", CORRUPT)
    async with serving(channel.webhook_asgi_app()) as url, supervised(gateway, channel) as supervisor:
        await supervisor.wait_started()
        meta = WebhookSender(url + WEBHOOK_PATH)
        assert (await meta.post(audio_message(USER, "1037543291543636"))).status_code == 200

        assert await graph_standin.wait_texts(USER, 1, within=60) == [ANSWER]
        [spoken] = await graph_standin.wait_audio(USER, 1)
        assert words(llm.seen[0]) == words(SENTENCE)
        assert_voice_note(spoken)
        [upload] = graph_standin.uploads.values()
        assert upload["type"] == "audio/ogg"
        kinds = [m.get("type") for m in graph_standin.messages if m.get("status") != "read"]
        assert kinds == ["text", "audio"]  # the text first, the voice note after it

        assert (await meta.post(audio_message(USER, "1037543291549999"))).status_code == 200
        texts = await graph_standin.wait_texts(USER, 2, within=30)
        assert texts[1].startswith("Sorry, I couldn't use that voice note"), texts

        assert (await meta.post(audio_message(USER, "404404404"))).status_code == 200  # unknown media
        texts = await graph_standin.wait_texts(USER, 3, within=30)
        assert "couldn't download that voice note" in texts[2], texts

        await anyio.sleep(QUIET_SECONDS)
        assert len(llm.seen) == 1 and len(graph_standin.sent_audio(USER)) == 1
        assert graph_standin.unauthorised == 0


# -- Discord ------------------------------------------------------------------------------------
VOICE_FLAG = 1 << 13


async def test_discord_voice_message_in_and_spoken_reply_out(
    discord_standin: DiscordStandIn, voice: VoiceNoteService
) -> None:
    standin = discord_standin
    llm = ReplyLLM(ANSWER)
    gateway = await build_gateway(llm, {"discord": OPEN}, voice=voice)
    channel = DiscordChannel(standin.token, rest_url=standin.base_url)
    note = await voice.speak(SENTENCE)
    assert note.data is not None
    async with supervised(gateway, channel) as supervisor:
        await supervisor.wait_started()
        dm = standin.dm_channel_of("4100")
        attachment = standin.add_attachment("voice-message.ogg", note.data)
        await standin.user_message("", user_id="4100", attachments=[attachment], flags=VOICE_FLAG)

        text, spoken = await standin.wait_sent(dm, 2, within=60)
        assert text["content"] == ANSWER and not text.get("_files")
        assert words(llm.seen[0]) == words(SENTENCE)
        [file] = spoken["_files"]
        assert file["filename"] == "reply.ogg" and file["content_type"] == "audio/ogg"
        assert_voice_note(file["data"])

        bad = standin.add_attachment("voice-message.ogg", CORRUPT)
        await standin.user_message("", user_id="4100", attachments=[bad], flags=VOICE_FLAG)
        sent = await standin.wait_sent(dm, 3, within=30)
        assert sent[2]["content"].startswith("Sorry, I couldn't use that voice note"), sent[2]

        gone = {**attachment, "url": f"{standin.base_url}/attachments/0/gone.ogg"}
        await standin.user_message("", user_id="4100", attachments=[gone], flags=VOICE_FLAG)
        sent = await standin.wait_sent(dm, 4, within=30)
        assert "couldn't download that voice note" in sent[3]["content"], sent[3]

        await anyio.sleep(QUIET_SECONDS)
        assert len(llm.seen) == 1 and len(standin.sent(dm)) == 4
