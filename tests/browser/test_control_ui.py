"""The control page (`/control`) in real headless Chromium against `rustyclaw serve` with a token,
a Telegram channel on the telegram-test-api emulator, a cron job, and llmock as the model.

Proves: the page asks for the gateway token and every call then carries it; an unknown Telegram
sender's pairing request shows up and is approved from the page (the sender is then served);
another one is denied; channels show their live state; sessions are searched, read, exported
and reset; a cron job runs now; token usage is charted; the configuration shows with its
secrets hidden. Screenshots of each tab land in build/artifacts/browser/.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from rustyclaw.domain.pairing import CODE_ALPHABET
from tests.e2e.gateway_process import GatewayProcess
from tests.fixtures.llm_servers import LLMockServer
from tests.fixtures.telegram_emulator import TelegramEmulator, telegram_emulator, telegram_token

from .conftest import run_async, start_gateway

__all__ = ["telegram_emulator", "telegram_token"]
TOKEN = "control-ui-token-0123456789abcdef"
CODE = re.compile(rf"\b[{CODE_ALPHABET}]{{8}}\b")
ALICE, BOB = 5151, 6262


@pytest.fixture
def controlled(tmp_path: Path, mock_llm: LLMockServer, telegram_emulator: TelegramEmulator,
               telegram_token: str) -> Iterator[GatewayProcess]:
    process = start_gateway(
        tmp_path, mock_llm.base_url,
        gateway={"auth": {"token": TOKEN}},
        channels={"telegram": {"enabled": True, "botToken": telegram_token,
                               "apiBaseUrl": telegram_emulator.base_url}},
        cron={"jobs": [{"id": "morning-brief", "schedule": {"every": "24h"}, "message": "Brief me."}]},
    )
    try:
        yield process
    finally:
        process.stop()


def pairing_code(emulator: TelegramEmulator, token: str, user: int) -> str:
    async def ask() -> str:
        await emulator.user_message(token, "hello bot", user_id=user)
        [text] = await emulator.wait_bot_texts(token, user, 1, within=30)
        return text

    text = run_async(ask)
    found = CODE.search(text)
    assert found is not None, text
    return found.group(0)


def tab(page: Page, name: str) -> None:
    page.click(f"nav.tabs button[data-tab={name}]")
    expect(page.locator(f"nav.tabs button[data-tab={name}]")).to_have_attribute("aria-selected", "true")


def test_control_ui(browser: Browser, controlled: GatewayProcess, mock_llm: LLMockServer,
                    telegram_emulator: TelegramEmulator, telegram_token: str, artifacts: Path) -> None:
    alice_code = pairing_code(telegram_emulator, telegram_token, ALICE)
    bob_code = pairing_code(telegram_emulator, telegram_token, BOB)
    assert httpx.get(f"{controlled.url}/api/control/pairing").status_code == 401  # behind the token

    context = browser.new_context(viewport={"width": 1200, "height": 800})
    asked: list[str] = []
    try:
        page = context.new_page()
        page.set_default_timeout(20_000)

        def give_token(dialog: object) -> None:
            asked.append(dialog.message)  # type: ignore[attr-defined]
            dialog.accept(TOKEN)  # type: ignore[attr-defined]

        page.once("dialog", give_token)
        page.goto(controlled.url + "/control#pairing")
        rows = page.locator("tr[data-code]")
        expect(rows).to_have_count(2)
        assert asked and "token" in asked[0]
        expect(page.locator(f"tr[data-code=\"{alice_code}\"]")).to_contain_text("telegram")
        page.screenshot(path=str(artifacts / "control-pairing.png"))

        page.locator(f"tr[data-code=\"{alice_code}\"] .approve").click()
        expect(page.locator(f"tr[data-code=\"{alice_code}\"]")).to_have_count(0)
        page.locator(f"tr[data-code=\"{bob_code}\"] .deny").click()
        expect(rows).to_have_count(0)
        expect(page.locator("main")).to_contain_text("No pairing requests are waiting.")

        # Alice is served now.
        mock_llm.reply("Welcome, Alice.")

        async def alice_talks() -> str:
            await telegram_emulator.user_message(telegram_token, "Am I in?", user_id=ALICE)
            [text] = await telegram_emulator.wait_bot_texts(telegram_token, ALICE, 1, within=30)
            return text

        assert run_async(alice_talks) == "Welcome, Alice."

        tab(page, "channels")
        expect(page.locator("td.state-running")).to_have_text(["running"])
        page.screenshot(path=str(artifacts / "control-channels.png"))

        tab(page, "cron")
        # The job's turn calls a tool first, so the audit log has a record to show.
        mock_llm.call_tool("session_status").reply("Here is your brief.")
        page.locator("tr[data-job=\"morning-brief\"] .run").click()
        expect(page.locator("tr[data-job=\"morning-brief\"] td").nth(5)).to_have_text("1")
        expect(page.locator("tr[data-job=\"morning-brief\"] td").nth(4)).to_have_text("ok")
        page.screenshot(path=str(artifacts / "control-cron.png"))

        tab(page, "sessions")
        sessions = page.locator("tr[data-key]")
        expect(sessions).to_have_count(2)  # Alice's Telegram session and the cron job's
        page.fill("input[type=search]", "brief me")
        page.press("input[type=search]", "Enter")
        expect(sessions).to_have_count(1)
        expect(sessions.first).to_contain_text("cron:morning-brief")
        page.screenshot(path=str(artifacts / "control-sessions.png"))
        with page.expect_download() as download:
            sessions.first.locator(".export").click()
        exported = Path(download.value.path()).read_text()
        assert "Here is your brief." in exported
        sessions.first.locator(".view").click()
        expect(page.locator(".transcript .line.assistant")).to_contain_text(["Here is your brief."])
        page.click("text=← Sessions")
        page.fill("input[type=search]", "")
        page.press("input[type=search]", "Enter")
        alice_row = page.locator("tr[data-key]", has_text="telegram")
        page.once("dialog", lambda dialog: dialog.accept())
        alice_row.locator(".reset").click()
        expect(alice_row.locator("td").nth(2)).to_have_text("0")

        tab(page, "usage")
        expect(page.locator("svg.chart rect.in").first).to_be_attached()
        page.screenshot(path=str(artifacts / "control-usage.png"))

        tab(page, "agents")
        expect(page.locator("main tbody tr")).to_have_count(1)
        expect(page.locator("main tbody tr")).to_contain_text("default")

        tab(page, "config")
        config = page.locator("pre.config")
        expect(config).to_contain_text("auth:")
        assert TOKEN not in config.inner_text() and telegram_token not in config.inner_text()
        assert "***" in config.inner_text()
        page.screenshot(path=str(artifacts / "control-config.png"))

        page.set_viewport_size({"width": 390, "height": 844})
        tab(page, "sessions")
        expect(page.locator("tr[data-key]")).to_have_count(2)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390  # only the table scrolls
        page.screenshot(path=str(artifacts / "control-phone.png"))
        page.set_viewport_size({"width": 1200, "height": 800})

        tab(page, "audit")
        expect(page.locator("main tbody tr").first).to_contain_text("session_status")
        expect(page.locator("main tbody tr").first).to_contain_text("agent:main:cron:morning-brief")
        page.screenshot(path=str(artifacts / "control-audit.png"))
    finally:
        context.close()
