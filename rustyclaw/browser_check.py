"""Is the `browser` tool usable here? Chromium found, Playwright installed, and a real headless start;
in sandboxed mode (`browser.sandbox.enabled`), the container engine answers and has the image.

Used by `rustyclaw doctor`; returns plain (status, detail, fix) rows so the doctor shapes them.
"""

from __future__ import annotations

import importlib.util
from typing import Literal

import anyio

from rustyclaw.adapters.tools.browser_container import CHROMIUM_IN_CONTAINER
from rustyclaw.adapters.tools.browser_pool import find_chromium
from rustyclaw.config.browser import BrowserConfig, BrowserSandboxConfig
from rustyclaw.domain.errors import SandboxError, SandboxUnavailableError

Status = Literal["ok", "warn", "fail", "info"]
Row = tuple[Status, str, str]
APT_FIX = "apt-get install chromium (scripts/install.d/40-chromium.sh), or set browser.executablePath"
PIP_FIX = "pip install 'rustyclaw[browser]' (Playwright's own browser download is not needed)"
ENGINE_FIX = ("start the container engine (./scripts/services.sh starts podman's Docker API at "
              "/run/rustyclaw-podman.sock; or Docker), set browser.sandbox.baseUrl, or browser.sandbox.enabled: false")
IMAGE_FIX = "rustyclaw sandbox build-image (no registry is used), or set browser.sandbox.image"


async def browser_rows(section: BrowserConfig, limit_seconds: float = 20.0) -> list[Row]:
    executable = find_chromium(section.executable_path)
    if not section.enabled:
        return [("info", "the browser tool is off (browser.enabled: false)", "")]
    if executable is None:
        where = section.executable_path or "chromium on PATH"
        return [("warn", f"no Chromium ({where}): the browser tool cannot start", APT_FIX)]
    if importlib.util.find_spec("playwright") is None:
        return [("warn", f"{executable} found, but the Playwright package is missing", PIP_FIX)]
    if section.sandbox.enabled:
        return await _container_rows(section.sandbox)
    return [await _launch(section, executable, limit_seconds)]


async def _container_rows(box: BrowserSandboxConfig) -> list[Row]:
    """Sandboxed mode: the engine answers, has the image, and the host's /usr holds the Chromium it mounts."""
    from rustyclaw.adapters.sandbox.engine_client import EngineClient

    if not await anyio.Path(CHROMIUM_IN_CONTAINER).exists():
        # The container runs the host's Chromium (its /usr is mounted read-only): Debian's package is needed.
        return [("warn", f"no {CHROMIUM_IN_CONTAINER} on the host to mount into the browser container", APT_FIX)]
    engine = EngineClient(box.base_url, api_timeout=10.0)
    try:
        client = await engine.get()
        version = (await engine.call(client.version)).get("Version", "?")
        await engine.call(client.images.get, box.image, image=box.image)
    except SandboxUnavailableError as exc:
        return [("warn", f"browser.sandbox: {exc}", ENGINE_FIX)]
    except SandboxError as exc:
        fix = IMAGE_FIX if "not present" in str(exc) else ENGINE_FIX
        return [("warn", f"browser.sandbox: {exc}", fix)]
    finally:
        await engine.aclose()
    return [("ok", f"browser.sandbox: engine {version} at {engine.url} has image {box.image} "
                   "(Chromium runs in a container)", "")]


async def _launch(section: BrowserConfig, executable: str, limit_seconds: float) -> Row:
    """Starts Chromium the way the tool does, asks its version, and closes it."""
    from playwright.async_api import async_playwright

    args = ["--no-sandbox"] if section.no_sandbox else []
    try:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=executable, headless=True, args=args,
                                               chromium_sandbox=not section.no_sandbox, timeout=limit_seconds * 1000)
            version = browser.version
            await browser.close()
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        fix = ("set browser.noSandbox: true (root and containers have no user namespaces for Chromium's sandbox)"
               if not section.no_sandbox else "run the executable by hand to see why it exits")
        return ("warn", f"{executable} did not start headless: {first}", fix)
    return ("ok", f"Chromium {version} at {executable} starts headless (Playwright)", "")
