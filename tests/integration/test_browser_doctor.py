"""`rustyclaw doctor`'s browser check: it really starts Debian's Chromium, and says how to fix what is missing."""

from __future__ import annotations

from pathlib import Path

import pytest

from rustyclaw.browser_check import browser_rows
from rustyclaw.config.browser import BrowserConfig

pytestmark = pytest.mark.anyio


async def test_a_working_chromium_is_started_and_its_version_reported() -> None:
    section = BrowserConfig.model_validate({"enabled": True, "noSandbox": True})
    ((status, detail, fix),) = await browser_rows(section)
    assert status == "ok", detail
    assert detail.startswith("Chromium ") and "starts headless" in detail and fix == ""


async def test_a_missing_executable_says_how_to_install_one(tmp_path: Path) -> None:
    missing = tmp_path / "no-chromium"
    section = BrowserConfig.model_validate({"enabled": True, "executablePath": str(missing)})
    ((status, detail, fix),) = await browser_rows(section)
    assert status == "warn" and str(missing) in detail
    assert "apt-get install chromium" in fix and "browser.executablePath" in fix


async def test_an_executable_that_does_not_start_is_a_warning_with_the_reason(tmp_path: Path) -> None:
    broken = tmp_path / "chromium"
    broken.write_text("#!/bin/sh\necho 'not a browser' >&2\nexit 3\n")
    broken.chmod(0o755)
    section = BrowserConfig.model_validate({"enabled": True, "executablePath": str(broken), "noSandbox": True})
    ((status, detail, fix),) = await browser_rows(section, limit_seconds=10)
    assert status == "warn" and detail.startswith(f"{broken} did not start headless: ")
    assert fix == "run the executable by hand to see why it exits"


async def test_a_disabled_browser_is_only_noted() -> None:
    ((status, detail, _),) = await browser_rows(BrowserConfig.model_validate({"enabled": False}))
    assert status == "info" and "browser.enabled: false" in detail


async def test_the_sandboxed_browser_row_checks_the_engine_and_its_image(tmp_path: Path) -> None:
    """browser.sandbox.enabled: the podman engine of scripts/services.sh answers and holds the image;
    an engine that does not answer, or an image it lacks, is a warning saying how to fix it."""
    ready = BrowserConfig.model_validate({"enabled": True, "sandbox": {"enabled": True}})
    ((status, detail, fix),) = await browser_rows(ready)
    assert status == "ok", detail
    assert "has image rustyclaw-sandbox:latest" in detail and fix == ""

    gone = f"unix://{tmp_path / 'no-engine.sock'}"
    no_engine = BrowserConfig.model_validate({"enabled": True, "sandbox": {"enabled": True, "baseUrl": gone}})
    ((status, detail, fix),) = await browser_rows(no_engine)
    assert status == "warn" and "no container engine answers" in detail
    assert "./scripts/services.sh" in fix and "browser.sandbox.baseUrl" in fix

    no_image = BrowserConfig.model_validate(
        {"enabled": True, "sandbox": {"enabled": True, "image": "rustyclaw-no-such-image:latest"}})
    ((status, detail, fix),) = await browser_rows(no_image)
    assert status == "warn" and "rustyclaw-no-such-image:latest" in detail
    assert fix.startswith("rustyclaw sandbox build-image")
