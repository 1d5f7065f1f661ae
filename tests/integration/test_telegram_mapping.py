"""Telegram updates become InboundMessages: media, mentions, threads, and what is ignored."""

from __future__ import annotations

import pytest

from rustyclaw.adapters.channels.telegram import TelegramChannel
from rustyclaw.adapters.channels.telegram_mapping import file_id_of
from tests.channel_contract.contract import Recorder
from tests.fixtures.telegram_emulator import BOT_USERNAME, TelegramEmulator, telegram_emulator, telegram_token

__all__ = ["telegram_emulator", "telegram_token"]
pytestmark = pytest.mark.anyio


async def test_updates_map_to_inbound_messages(
    telegram_emulator: TelegramEmulator, telegram_token: str
) -> None:
    emu, token = telegram_emulator, telegram_token
    bot_id = int(token.split(":")[0])
    channel = TelegramChannel(token, api_base_url=emu.base_url, poll_interval=0.05)
    recorder = Recorder()
    await channel.start(recorder)
    try:
        updates = [
            emu.make_update("", user_id=7, voice={"file_id": "VOICE1", "file_unique_id": "v", "duration": 3,
                                                   "mime_type": "audio/ogg", "file_size": 999}),
            emu.make_update("", user_id=7, caption="see file",
                            document={"file_id": "DOC1", "file_unique_id": "d", "file_name": "a.pdf"}),
            emu.make_update("plain text", user_id=7),
            emu.make_update("", user_id=7),  # nothing to answer: ignored
            {"update_id": emu.next_update_id(), "edited_message": emu.make_update("edit")["message"]},
            emu.make_update("/help@" + BOT_USERNAME, user_id=7, chat_id=-5, chat_type="group",
                            entities=[{"type": "bot_command", "offset": 0, "length": 18}]),
            emu.make_update("thanks", user_id=7, chat_id=-5, chat_type="supergroup", message_id=42,
                            reply_to_message={
                                "message_id": 41, "date": 1, "chat": {"id": -5, "type": "supergroup"},
                                "from": {"id": bot_id, "is_bot": True, "first_name": "B"}}),
            emu.make_update("in topic", user_id=7, chat_id=-5, chat_type="supergroup",
                            is_topic_message=True, message_thread_id=9),
            emu.make_update("plain group talk", user_id=7, chat_id=-5, chat_type="group"),
        ]
        for update in updates:
            await emu.inject_update(token, update)
        voice, doc, text, command, reply, topic, plain = await recorder.wait_for(7)
    finally:
        await channel.aclose()
    assert voice.attachments[0].kind == "voice" and file_id_of(voice.attachments[0]) == "VOICE1"
    assert voice.attachments[0].size == 999 and voice.chat_kind == "direct" and voice.mentioned
    assert doc.text == "see file" and doc.attachments[0].name == "a.pdf" and doc.attachments[0].kind == "file"
    assert text.text == "plain text"
    assert command.chat_kind == "group" and command.mentioned and command.peer_id == "-5"
    assert reply.mentioned and reply.reply_to == "-5:41" and reply.message_id == "-5:42"
    assert (topic.chat_kind, topic.thread_id, topic.mentioned) == ("thread", "9", False)
    assert (plain.chat_kind, plain.mentioned, plain.sender_id) == ("group", False, "7")
