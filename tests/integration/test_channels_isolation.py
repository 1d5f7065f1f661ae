"""One platform down, the others serving: Telegram (aiogram against the Bot API emulator), Discord
(hikari against a stand-in that is not listening yet) and WhatsApp (signed webhooks, Graph API
stand-in) run under one ChannelSupervisor with a real Gateway.

Discord cannot start while nothing listens; the supervisor reports it failed and retries with
backoff, Telegram and WhatsApp answer meanwhile, and once the stand-in comes up Discord connects
and answers too.
"""

from __future__ import annotations

import pytest

from rustyclaw.adapters.channels.discord import DiscordChannel
from rustyclaw.adapters.channels.supervisor import ChannelStatus, ChannelSupervisor
from rustyclaw.adapters.channels.telegram import TelegramChannel
from rustyclaw.adapters.http.mounts import with_mounts
from rustyclaw.domain.dispatch import ChannelDispatcher
from rustyclaw.ports.channel import Channel
from tests.channel_contract.harness_http import serving
from tests.fixtures.discord_standin import DiscordStandIn
from tests.fixtures.graph_standin import GraphStandIn, WebhookSender, text_message
from tests.fixtures.telegram_emulator import TelegramEmulator, telegram_emulator, telegram_token
from tests.integration.channel_kit import OPEN, ReplyLLM, build_gateway, fast_backoff, until
from tests.integration.test_whatsapp_flows import USER, WEBHOOK_PATH, make_channel, not_found

__all__ = ["telegram_emulator", "telegram_token"]
pytestmark = pytest.mark.anyio


async def test_discord_down_while_telegram_and_whatsapp_keep_answering(
    telegram_emulator: TelegramEmulator, telegram_token: str, graph_standin: GraphStandIn
) -> None:
    llm = ReplyLLM()
    gateway = await build_gateway(llm, {"telegram": OPEN, "discord": OPEN, "whatsapp": OPEN})
    discord_server = DiscordStandIn()  # its port is free: nothing answers there yet
    telegram = TelegramChannel(telegram_token, api_base_url=telegram_emulator.base_url, poll_interval=0.05)
    # No REST retries inside one start attempt (hikari's own backoff adds ~9 s each): the
    # supervisor's backoff retries the whole start, which is what this test is about.
    discord = DiscordChannel(discord_server.token, rest_url=discord_server.base_url, rest_retries=0)
    whatsapp = make_channel(graph_standin)

    def dispatcher(channel: Channel) -> ChannelDispatcher:
        return ChannelDispatcher(gateway, channel)

    app = with_mounts(not_found, {WEBHOOK_PATH: whatsapp.webhook_asgi_app()})
    try:
        async with serving(app) as url, ChannelSupervisor(
            [telegram, discord, whatsapp], dispatcher, backoff=fast_backoff
        ) as supervisor:

            def status(name: str) -> ChannelStatus:
                return next(s for s in supervisor.status() if s.name == name)

            await supervisor.wait_started()
            await until(lambda: status("discord").restarts >= 2)
            down = status("discord")
            assert down.state in ("failed", "starting") and "discord" in (down.last_error or "")
            assert status("telegram").state == "running" and status("whatsapp").state == "running"

            await telegram_emulator.user_message(telegram_token, "via telegram", user_id=7001)
            assert await telegram_emulator.wait_bot_texts(telegram_token, 7001, 1) == ["echo: via telegram"]
            response = await WebhookSender(url + WEBHOOK_PATH).post(text_message(USER, "via whatsapp"))
            assert response.status_code == 200
            assert await graph_standin.wait_texts(USER, 1) == ["echo: via whatsapp"]

            await discord_server.start()
            await until(lambda: status("discord").state == "running")
            await discord_server.user_message("via discord", user_id="7002")
            [reply] = await discord_server.wait_sent(discord_server.dm_channel_of("7002"), 1)
            assert reply["content"] == "echo: via discord"
            assert [s.state for s in supervisor.status()] == ["running", "running", "running"]
        assert sorted(llm.seen) == ["via discord", "via telegram", "via whatsapp"]
    finally:
        await discord_server.stop()
