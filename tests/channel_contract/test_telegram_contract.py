"""The channel contract against TelegramChannel (real aiogram) and the Bot API emulator, both modes."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.channel_contract.contract import ChannelContract, ChannelHarness
from tests.channel_contract.telegram_harness import telegram_harness
from tests.fixtures.telegram_emulator import TelegramEmulator


class TestTelegramPollingContract(ChannelContract):
    @pytest.fixture
    async def harness(
        self, telegram_emulator: TelegramEmulator, telegram_token: str
    ) -> AsyncIterator[ChannelHarness]:
        async with telegram_harness(telegram_emulator, telegram_token, "polling") as h:
            yield h


class TestTelegramWebhookContract(ChannelContract):
    @pytest.fixture
    async def harness(
        self, telegram_emulator: TelegramEmulator, telegram_token: str
    ) -> AsyncIterator[ChannelHarness]:
        async with telegram_harness(telegram_emulator, telegram_token, "webhook") as h:
            yield h
