"""Headless Chromium (Debian's, installed by scripts/install.d/40-chromium.sh) driven by Python
Playwright against a real `rustyclaw serve`, whose model is llmock (scripted replies, journal).

Screenshots go to build/artifacts/browser/ (gitignored; CI keeps the folder as an artefact).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import anyio
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, expect, sync_playwright

from tests.e2e.gateway_process import GatewayProcess, write_config
from tests.fixtures.llm_servers import LLMockServer

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "build" / "artifacts" / "browser"
T = TypeVar("T")
# A shared CI machine is slow at times; every wait is on a condition, this only bounds it.
expect.set_options(timeout=20_000)
CHROMIUM = os.environ.get("RUSTYCLAW_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


# Package scope, not session: Playwright's sync API keeps an event loop marked as running in this
# thread while it is open, and every anyio test collected after this package would then fail with
# "Cannot run the event loop while another loop is running".
@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not os.path.exists(CHROMIUM):
        raise RuntimeError(f"{CHROMIUM} is missing: run scripts/install.d/40-chromium.sh (Debian's chromium)")
    chromium = playwright.chromium.launch(
        executable_path=CHROMIUM,
        args=["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
              "--disable-component-update", "--disable-sync"],
    )
    try:
        yield chromium
    finally:
        chromium.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport={"width": 1200, "height": 800})
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    page = context.new_page()
    page.set_default_timeout(20_000)
    return page


def start_gateway(home: Path, model_url: str, **sections: dict[str, object]) -> GatewayProcess:
    home.mkdir(parents=True, exist_ok=True)
    config = write_config(home / "config.yaml", home / "state", model_url, "mock-model", **sections)
    return GatewayProcess(config, home).start(timeout=40)


@pytest.fixture
def gateway(tmp_path: Path, mock_llm: LLMockServer) -> Iterator[GatewayProcess]:
    """A fresh tokenless gateway (loopback only) per test: its own state folder, no history."""
    process = start_gateway(tmp_path, mock_llm.base_url)
    try:
        yield process
    finally:
        process.stop()


def run_async(func: Callable[[], Awaitable[T]]) -> T:
    """Runs a coroutine function on its own loop in a worker thread: Playwright's sync API already
    runs an event loop on the test's thread."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(anyio.run, func).result()
