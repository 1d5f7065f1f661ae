"""Chromium for the `browser` tool: one Playwright browser, one context (profile) per agent or session.

Playwright (`pip install 'rustyclaw[browser]'`) is imported with the first browser action, never
with the gateway. The browser starts on first use; a profile idle for `idle_seconds` is closed,
and the browser with the last one.

Every request a page makes (the document, its redirects, scripts, images, form posts) passes the
SSRF guard of web_fetch: Playwright's `route` sees each request but not the hops of a redirect
the browser follows itself, so requests are fetched through the route (`max_redirects=0`) and each
redirect hop is checked here before it is followed; the final response is handed to the page.
Service workers are blocked (their requests would bypass the route), WebSockets too.
Known limit: Chromium's own connection resolves the name again after the check (a DNS answer
that changes between the two is not caught), unlike web_fetch, which connects to the checked IP.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from rustyclaw.adapters.tools.paths import confine, workspace_root
from rustyclaw.adapters.tools.ssrf import Guard
from rustyclaw.domain.errors import ToolError

if TYPE_CHECKING:  # playwright loads with the first browser action (idle memory)
    from playwright.async_api import Browser, BrowserContext, Download, Page, Playwright, Route

log = logging.getLogger("rustyclaw.browser")
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
MAX_REDIRECTS = 5
INSTALL_HINT = ("install Debian's Chromium (`apt-get install chromium`, scripts/install.d/40-chromium.sh) "
                "and Playwright (`pip install 'rustyclaw[browser]'`), or set browser.executablePath")


def find_chromium(configured: str | None = None) -> str | None:
    """The Chromium to drive: `configured` if it exists, else the first one on PATH."""
    if configured:
        return configured if Path(configured).exists() else None
    return next((found for name in CHROMIUM_NAMES if (found := shutil.which(name))), None)


@dataclass(frozen=True, slots=True)
class BrowserSettings:
    executable_path: str | None = None
    headless: bool = True
    no_sandbox: bool = False
    action_timeout_seconds: float = 20.0
    idle_seconds: float = 300.0
    snapshot_max_chars: int = 20_000
    max_tabs: int = 8
    viewport: tuple[int, int] = (1280, 800)


@dataclass(eq=False)
class Profile:
    """One browser context: its tabs (by target id), the current one, and what its guard refused."""

    key: str
    context: BrowserContext
    downloads: Path
    tabs: dict[str, Page] = field(default_factory=dict)
    current: str | None = None
    refused: list[str] = field(default_factory=list)
    saved: list[str] = field(default_factory=list)
    next_tab: int = 1
    idle: asyncio.TimerHandle | None = None
    saving: set[asyncio.Task[None]] = field(default_factory=set)
    busy: int = 0

    async def settle(self) -> None:
        """Downloads still being written finish before the model is told what was saved."""
        if self.saving:
            await asyncio.gather(*self.saving, return_exceptions=True)

    def page(self, target_id: str | None = None) -> Page:
        wanted = target_id or self.current
        if wanted is None or wanted not in self.tabs:
            known = ", ".join(self.tabs) or "none"
            raise ToolError(f"no tab {wanted!r} (open tabs: {known}); use action 'open' first"
                            if target_id else "no tab is open; use action 'open' with targetUrl first")
        return self.tabs[wanted]

    def target_of(self, page: Page) -> str:
        return next(target for target, tab in self.tabs.items() if tab is page)


class BrowserPool:
    def __init__(self, settings: BrowserSettings, guard: Guard, workspace_of: Callable[[str], Path]) -> None:
        self.settings = settings
        self.guard = guard
        self._workspace_of = workspace_of
        self._playwright: Playwright | None = None
        self._browser: Browser | None = None
        self._profiles: dict[str, Profile] = {}
        self._lock = asyncio.Lock()
        # Set while no Chromium runs (before the first action, after the last profile went idle).
        self.stopped = asyncio.Event()
        self.stopped.set()

    @property
    def running(self) -> bool:
        return self._browser is not None

    async def check(self, url: str) -> None:
        """web_fetch's SSRF rules, with this tool's own setting named in a refusal."""
        try:
            await self.guard.check(url)
        except ToolError as exc:
            raise ToolError(str(exc).replace("tools.web.fetch.allowPrivateNetwork",
                                             "browser.allowPrivateNetwork")) from None

    def profiles(self) -> list[str]:
        return list(self._profiles)

    async def profile(self, key: str, agent_id: str) -> Profile:
        """The profile for `key`, started if needed, held until `release(profile)`."""
        async with self._lock:
            found = self._profiles.get(key)
            if found is None:
                found = await self._new_profile(key, agent_id)
                self._profiles[key] = found
            # Held by an action until `release`: an action longer than idleSeconds is not idleness.
            found.busy += 1
            if found.idle is not None:
                found.idle.cancel()
                found.idle = None
        return found

    def peek(self, key: str) -> Profile | None:
        return self._profiles.get(key)

    def release(self, profile: Profile) -> None:
        """An action on `profile` ended: the idle clock starts when none is left running."""
        profile.busy -= 1
        if profile.busy == 0 and self.settings.idle_seconds > 0:
            loop = asyncio.get_running_loop()
            profile.idle = loop.call_later(
                self.settings.idle_seconds, lambda: loop.create_task(self._close_idle(profile)))

    async def _start(self) -> Browser:
        if self._browser is not None and self._browser.is_connected():
            return self._browser
        executable = find_chromium(self.settings.executable_path)
        if executable is None:
            raise ToolError(f"no Chromium found: {INSTALL_HINT}")
        try:
            from playwright.async_api import async_playwright
        except ImportError as exc:
            raise ToolError(f"the Playwright package is missing: {INSTALL_HINT}") from exc
        args = ["--disable-gpu", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--disable-extensions"]
        if self.settings.no_sandbox:
            args.append("--no-sandbox")
        self._playwright = await async_playwright().start()
        try:
            self._browser = await self._playwright.chromium.launch(
                executable_path=executable, headless=self.settings.headless, args=args,
                chromium_sandbox=not self.settings.no_sandbox,
                timeout=self.settings.action_timeout_seconds * 1000,
            )
        except Exception as exc:
            await self._playwright.stop()
            self._playwright = None
            hint = " (browser.noSandbox: true is needed as root or in a container)" if "sandbox" in str(exc) else ""
            raise ToolError(f"Chromium ({executable}) did not start: {str(exc).splitlines()[0]}{hint}") from exc
        self.stopped.clear()
        log.info("browser started", extra={"executable": executable})
        return self._browser

    async def _new_profile(self, key: str, agent_id: str) -> Profile:
        browser = await self._start()
        width, height = self.settings.viewport
        context = await browser.new_context(
            viewport={"width": width, "height": height}, accept_downloads=True, service_workers="block",
        )
        context.set_default_timeout(self.settings.action_timeout_seconds * 1000)
        profile = Profile(key=key, context=context, downloads=workspace_root(self._workspace_of(agent_id)))
        await context.route("**/*", lambda route: self._guarded(profile, route))
        await context.route_web_socket("**/*", lambda ws: ws.close(code=1008, reason="blocked by RustyClaw"))
        def popup(page: Page) -> None:
            self.adopt(profile, page)

        context.on("page", popup)
        return profile

    def adopt(self, profile: Profile, page: Page) -> str:
        """A tab opened by the tool or by the page (a popup): numbered, downloads confined."""
        for target, tab in profile.tabs.items():
            if tab is page:
                return target
        target = f"t{profile.next_tab}"
        profile.next_tab += 1
        profile.tabs[target] = page
        profile.current = target
        page.on("download", lambda download: self._track(profile, download))
        page.on("close", lambda _: self._forget(profile, page))
        return target

    def _track(self, profile: Profile, download: Download) -> None:
        task = asyncio.get_running_loop().create_task(self._save(profile, download))
        profile.saving.add(task)
        task.add_done_callback(profile.saving.discard)

    def _forget(self, profile: Profile, page: Page) -> None:
        gone = [target for target, tab in profile.tabs.items() if tab is page]
        for target in gone:
            del profile.tabs[target]
        if profile.current in gone:
            profile.current = next(reversed(profile.tabs), None)

    async def _save(self, profile: Profile, download: Download) -> None:
        """Downloads land in the agent's workspace under downloads/, never elsewhere."""
        name = Path(download.suggested_filename).name or "download"
        try:
            target = confine(profile.downloads, f"downloads/{name}")
            target.parent.mkdir(parents=True, exist_ok=True)
            await download.save_as(target)
            profile.saved.append(str(target.relative_to(profile.downloads)))
        except (ToolError, OSError) as exc:
            log.warning("download refused: %s", exc)
            await download.cancel()

    async def _guarded(self, profile: Profile, route: Route) -> None:
        request = route.request
        url = request.url
        try:
            await self.check(url)
            timeout = self.settings.action_timeout_seconds * 1000
            response = await route.fetch(max_redirects=0, timeout=timeout)
            method, body = request.method, request.post_data_buffer
            for _ in range(MAX_REDIRECTS):
                location = response.headers.get("location")
                if response.status not in (301, 302, 303, 307, 308) or not location:
                    break
                url = _join(url, location)
                await self.check(url)
                if response.status == 303 or (response.status in (301, 302) and method == "POST"):
                    method, body = "GET", None
                # The context's own request client: it keeps the profile's cookies and may change scheme.
                response = await profile.context.request.fetch(url, method=method, data=body, max_redirects=0,
                                                               timeout=timeout)
            else:
                raise ToolError(f"more than {MAX_REDIRECTS} redirects from {request.url}")
        except ToolError as exc:
            profile.refused.append(str(exc))
            await quietly(route.abort("blockedbyclient"))
            return
        except Exception as exc:  # the page went away, or the server did not answer in time
            log.info("browser request failed: %s", str(exc).splitlines()[0], extra={"url": url})
            await quietly(route.abort("failed"))
            return
        await quietly(route.fulfill(response=response))

    async def _close_idle(self, profile: Profile) -> None:
        if profile.busy == 0 and self._profiles.get(profile.key) is profile:
            log.info("browser profile idle: closing it", extra={"profile": profile.key})
            await self.close_profile(profile.key)

    async def close_profile(self, key: str) -> bool:
        # Under the lock: a profile being opened meanwhile must not lose the browser under it.
        async with self._lock:
            profile = self._profiles.pop(key, None)
            if profile is None:
                return False
            if profile.idle is not None:
                profile.idle.cancel()
            await quietly(profile.context.close())
            if not self._profiles:
                await self.aclose()
        return True

    async def aclose(self) -> None:
        for profile in list(self._profiles.values()):
            if profile.idle is not None:
                profile.idle.cancel()
            await quietly(profile.context.close())
        self._profiles.clear()
        if self._browser is not None:
            await quietly(self._browser.close())
            self._browser = None
        if self._playwright is not None:
            await quietly(self._playwright.stop())
            self._playwright = None
        self.stopped.set()


def _join(base: str, location: str) -> str:
    from urllib.parse import urljoin

    return urljoin(base, location)


async def quietly(awaitable: object) -> None:
    """Closing or answering a request whose page is already gone is not an error worth raising."""
    try:
        await awaitable  # type: ignore[misc]
    except Exception as exc:
        log.debug("browser cleanup: %s", exc)
