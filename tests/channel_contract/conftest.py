"""Fixtures the contract runs share: the Telegram emulator (session-wide) and fresh bot tokens."""

from __future__ import annotations

from tests.fixtures.telegram_emulator import telegram_emulator, telegram_token

__all__ = ["telegram_emulator", "telegram_token"]
