"""Browser screenshots reach the chat platforms as images, end to end.

The scripted model (llmock) opens a page this test serves and takes a screenshot with the real
`browser` tool (Debian's Chromium) inside the real composition root; the turn's reply goes out
through the real channel adapter to its local stand-in (the Telegram emulator, the Graph API
stand-in, the Discord stand-in), which must receive the text and then the photo as valid PNG bytes.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from rustyclaw.adapters.channels.discord import DiscordChannel
from rustyclaw.adapters.channels.supervisor import ChannelSupervisor
from rustyclaw.adapters.channels.telegram import TelegramChannel
from rustyclaw.adapters.channels.whatsapp import WhatsAppChannel
from rustyclaw.app import bootstrap
from rustyclaw.config.schema import RustyClawConfig
from rustyclaw.domain.dispatch import ChannelDispatcher
from rustyclaw.domain.gateway import Gateway
from rustyclaw.ports.channel import Channel
from rustyclaw.settings import settings_of
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
    text_message,
)
from tests.fixtures.llm_servers import LLMockServer
from tests.fixtures.telegram_emulator import TelegramEmulator, telegram_emulator, telegram_token
from tests.integration.test_browser_tool import Pages, config, pages

__all__ = ["pages", "telegram_emulator", "telegram_token"]
pytestmark = [pytest.mark.anyio, pytest.mark.slow]

ANSWER = "Here is the page."
OPEN = {"dmPolicy": "open", "allowFrom": ["*"]}


def channel_config(tmp_path: Path, base_url: str) -> RustyClawConfig:
    base = config(tmp_path, base_url, allowPrivateNetwork=True, viewportWidth=640, viewportHeight=480)
    # Only the access rules: the channel itself is built by the test against its stand-in.
    channels = type(base.channels).model_validate({"telegram": OPEN, "discord": OPEN, "whatsapp": OPEN})
    return base.model_copy(update={"channels": channels})


def script(mock_llm: LLMockServer, pages: Pages) -> None:
    mock_llm.call_tool("browser", {"action": "open", "targetUrl": f"{pages.url}/form"})
    mock_llm.call_tool("browser", {"action": "screenshot"}).reply(ANSWER)


def assert_screenshot(data: bytes) -> None:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    assert struct.unpack(">II", data[16:24]) == (640, 480)  # the configured viewport, so a real capture


def supervised(gateway: Gateway, channel: Channel) -> ChannelSupervisor:
    def dispatcher(ch: Channel) -> ChannelDispatcher:
        return ChannelDispatcher(gateway, ch)

    return ChannelSupervisor([channel], dispatcher)


async def test_a_screenshot_reaches_telegram_as_a_photo(
    mock_llm: LLMockServer, pages: Pages, tmp_path: Path,
    telegram_emulator: TelegramEmulator, telegram_token: str,
) -> None:
    emulator, token = telegram_emulator, telegram_token
    script(mock_llm, pages)
    async with bootstrap(settings_of(channel_config(tmp_path, mock_llm.base_url)), "core") as root:
        channel = TelegramChannel(token, api_base_url=emulator.base_url, poll_interval=0.05)
        async with supervised(root.gateway, channel) as supervisor:
            await supervisor.wait_started()
            await emulator.user_message(token, "show me the order form")
            assert await emulator.wait_bot_texts(token, 1001, 1, within=60) == [ANSWER]
            [photo] = await emulator.wait_bot_photos(token, 1001, 1)
    assert photo["chat_id"] == "1001" and photo["filename"] == "screenshot.png"
    assert_screenshot(photo["data"])
    assert "/form" in pages.paths


async def test_a_screenshot_reaches_discord_as_an_attachment(
    mock_llm: LLMockServer, pages: Pages, tmp_path: Path, discord_standin: DiscordStandIn,
) -> None:
    standin = discord_standin
    script(mock_llm, pages)
    async with bootstrap(settings_of(channel_config(tmp_path, mock_llm.base_url)), "core") as root:
        channel = DiscordChannel(standin.token, rest_url=standin.base_url)
        async with supervised(root.gateway, channel) as supervisor:
            await supervisor.wait_started()
            dm = standin.dm_channel_of("4100")
            await standin.user_message("show me the order form", user_id="4100")
            text, image = await standin.wait_sent(dm, 2, within=60)
    assert text["content"] == ANSWER and not text.get("_files")
    [file] = image["_files"]
    assert file["filename"] == "screenshot.png" and file["content_type"] == "image/png"
    assert_screenshot(file["data"])


USER = "16315551181"


async def test_a_screenshot_reaches_whatsapp_as_an_image_message(
    mock_llm: LLMockServer, pages: Pages, tmp_path: Path, graph_standin: GraphStandIn,
) -> None:
    script(mock_llm, pages)
    async with bootstrap(settings_of(channel_config(tmp_path, mock_llm.base_url)), "core") as root:
        channel = WhatsAppChannel(ACCESS_TOKEN, APP_SECRET, VERIFY_TOKEN, PHONE_NUMBER_ID,
                                  api_base_url=graph_standin.url, api_version=API_VERSION)
        async with serving(channel.webhook_asgi_app()) as url, supervised(root.gateway, channel) as supervisor:
            await supervisor.wait_started()
            meta = WebhookSender(url + "/channels/whatsapp/webhook")
            assert (await meta.post(text_message(USER, "show me the order form"))).status_code == 200
            assert await graph_standin.wait_texts(USER, 1, within=60) == [ANSWER]
            [image] = await graph_standin.wait_images(USER, 1)
    assert image["type"] == "image/png"
    assert_screenshot(image["data"])
    kinds = [m.get("type") for m in graph_standin.messages if m.get("status") != "read"]
    assert kinds == ["text", "image"]  # the text first, the screenshot after it
    assert graph_standin.unauthorised == 0
