"""Chromium for the `browser` tool: one Playwright browser, one context (profile) per agent or session.

Playwright (`pip install 'rustyclaw[browser]'`) is imported with the first browser action, never
with the gateway. The browser starts on first use; a profile idle for `idle_seconds` is closed,
and the browser with the last one.

Every request a page makes (the document, its redirects, scripts, images, form posts) passes the
SSRF guard of web_fetch: Playwright's `route` sees each request but not the hops of a redirect
the browser follows itself, so the route fetches each request itself and checks each redirect
hop before following it; the final response is handed to the page (`route.fulfill`).
Service workers are blocked (their requests would bypass the route), WebSockets too.

DNS pinning: the route resolves a name once (the guard's check) and connects to that checked
address with httpx (Host header and TLS SNI keep the name, the certificate is verified against
it), so nothing resolves the name again after the check: neither Chromium nor Playwright's own
fetch, either of which would let a DNS answer that changes after the check (rebinding) reach a
private address. Cookies go with it from and back to the profile's cookie store.

Sandboxed mode (`browser.sandbox.enabled`): Chromium runs in a container (browser_container.py)
and Playwright attaches over CDP; the route still sees every request, so the guard holds the same
way. Closing the browser (idle, `stop`, shutdown) removes the container.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import shutil
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import anyio

from rustyclaw.adapters.tools.browser_container import (
    NO_DIRECT_NETWORK,
    BrowserContainer,
    ContainerSettings,
    start_container,
)
from rustyclaw.adapters.tools.paths import confine, workspace_root
from rustyclaw.adapters.tools.ssrf import Guard, Target
from rustyclaw.domain.errors import SandboxError, ToolError

if TYPE_CHECKING:  # playwright and httpx load with the first browser action (idle memory)
    import ssl

    import httpx
    from playwright._impl._api_structures import SetCookieParam
    from playwright.async_api import Browser, BrowserContext, Dialog, Download, Page, Playwright, Route

log = logging.getLogger("rustyclaw.browser")
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
MAX_REDIRECTS = 5
CONSOLE_KEPT = 200
ATTACHMENTS_KEPT = 4
# A response body the route holds in memory before handing it to the page; bigger ones fail.
MAX_BODY_BYTES = 64 * 1024 * 1024
# Request headers Chromium hands the route that the pinned fetch sets itself or must not forward.
_DROP_REQUEST = frozenset({"host", "content-length", "connection", "keep-alive", "transfer-encoding", "te",
                           "trailer", "upgrade", "accept-encoding", "cookie", "proxy-authorization"})
# httpx decodes gzip/br/deflate: the page gets the decoded body, so these would describe it wrongly.
_DROP_RESPONSE = frozenset({"content-encoding", "content-length", "transfer-encoding", "connection", "keep-alive"})
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
    # Set: Chromium runs in a container (browser.sandbox), not on the host.
    container: ContainerSettings | None = None
    # Action 'evaluate' (model-written JavaScript in the page) is refused unless this is set.
    evaluate_enabled: bool = False
    evaluate_max_chars: int = 4_000


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
    # The latest console messages of its tabs ("[type] text"), bounded so a chatty page cannot grow memory.
    console: deque[str] = field(default_factory=lambda: deque(maxlen=CONSOLE_KEPT))
    # How the next JavaScript dialog is answered (action 'dialog' arms it): (accept, promptText).
    # Unarmed, a dialog is dismissed, as Playwright does without a handler, so a page never hangs.
    dialog: tuple[bool, str | None] | None = None
    dialogs: deque[str] = field(default_factory=lambda: deque(maxlen=CONSOLE_KEPT))
    # Sandboxed mode: Chromium writes a download inside its container, out of Playwright's reach on the
    # host, so the bodies the route fetched as attachments are kept (the latest few) and saved from here.
    attachments: dict[str, bytes] = field(default_factory=dict)
    # Navigations answered as attachments whose download event has not come yet (it follows the
    # response asynchronously): `settle` waits for them, so a `tabs` right after the click sees the file.
    expected: set[str] = field(default_factory=set)
    announced: asyncio.Event = field(default_factory=asyncio.Event)

    async def settle(self, limit_seconds: float = 5.0) -> None:
        """Downloads still being written finish before the model is told what was saved."""
        # Bounded: an attachment Chromium chose not to download (a page closed meanwhile) is let go.
        with anyio.move_on_after(limit_seconds):
            while self.expected:
                self.announced.clear()
                await self.announced.wait()
        self.expected.clear()
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
    def __init__(self, settings: BrowserSettings, guard: Guard, workspace_of: Callable[[str], Path], *,
                 tls_context: ssl.SSLContext | None = None) -> None:
        self.settings = settings
        self.guard = guard
        # The certificates the pinned fetch trusts; None: httpx's default (certifi's CAs).
        self._tls_context = tls_context
        self._workspace_of = workspace_of
        self._playwright: Playwright | None = None
        self._browser: Browser | None = None
        self._container: BrowserContainer | None = None
        self._http: httpx.AsyncClient | None = None
        self._profiles: dict[str, Profile] = {}
        self._lock = asyncio.Lock()
        # Set while no Chromium runs (before the first action, after the last profile went idle).
        self.stopped = asyncio.Event()
        self.stopped.set()

    @property
    def running(self) -> bool:
        return self._browser is not None

    async def check(self, url: str) -> Target:
        """web_fetch's SSRF rules, with this tool's own setting named in a refusal."""
        try:
            return await self.guard.check(url)
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
        if self.settings.container is not None:
            return await self._start_in_container(self.settings.container)
        executable = find_chromium(self.settings.executable_path)
        if executable is None:
            raise ToolError(f"no Chromium found: {INSTALL_HINT}")
        try:
            from playwright.async_api import async_playwright
        except ImportError as exc:
            raise ToolError(f"the Playwright package is missing: {INSTALL_HINT}") from exc
        args = ["--disable-gpu", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--disable-extensions", *NO_DIRECT_NETWORK]
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

    async def _start_in_container(self, container: ContainerSettings) -> Browser:
        try:
            from playwright.async_api import async_playwright
        except ImportError as exc:
            raise ToolError(f"the Playwright package is missing: {INSTALL_HINT}") from exc
        # A browser whose CDP connection dropped leaves its container behind: remove it first.
        await self._drop_container()
        name = f"rustyclaw-browser-{secrets.token_hex(4)}"
        try:
            self._container = await start_container(name, container)
        except SandboxError as exc:
            raise ToolError(f"the browser container did not start: {exc} (browser.sandbox; see rustyclaw doctor)"
                            ) from exc
        self._playwright = await async_playwright().start()
        try:
            self._browser = await self._playwright.chromium.connect_over_cdp(
                self._container.cdp_url, timeout=container.start_timeout_seconds * 1000)
        except Exception as exc:
            await self._playwright.stop()
            self._playwright = None
            await self._drop_container()
            raise ToolError(f"attaching to Chromium in container {name} failed: {str(exc).splitlines()[0]}") from exc
        self.stopped.clear()
        log.info("browser started in a container", extra={"container": name})
        return self._browser

    async def _drop_container(self) -> None:
        container, self._container = self._container, None
        if container is not None:
            try:
                await container.aclose()
            except SandboxError as exc:  # the engine went away: nothing left to remove from here
                log.warning("browser container %s not removed: %s", container.container_id, exc)

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
        page.on("console", lambda message: profile.console.append(f"[{message.type}] {message.text}"))
        page.on("dialog", lambda dialog: _answer(profile, dialog))
        return target

    def _track(self, profile: Profile, download: Download) -> None:
        profile.expected.discard(download.url)
        profile.announced.set()
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
            if self.settings.container is not None:
                body = profile.attachments.pop(download.url, None)
                if body is None:
                    raise ToolError(f"download of {download.url} not saved: in the sandboxed browser only "
                                    "responses sent as attachments (Content-Disposition) are")
                await download.cancel()  # the container's copy is not needed
                await anyio.Path(target).write_bytes(body)
            else:
                await download.save_as(target)
            profile.saved.append(str(target.relative_to(profile.downloads)))
        except Exception as exc:  # refused, or the page went away: never an unhandled task error
            log.warning("download refused: %s", exc)
            await quietly(download.cancel())

    async def _guarded(self, profile: Profile, route: Route) -> None:
        request = route.request
        url = request.url
        try:
            method, body = request.method, request.post_data_buffer
            headers = {name: value for name, value in (await request.all_headers()).items()
                       if name.lower() not in _DROP_REQUEST and not name.startswith(":")}
            response, content = await self._fetch_pinned(profile, await self.check(url), method, headers, body)
            for hop in range(MAX_REDIRECTS + 1):  # `hop` redirects followed so far
                location = response.headers.get("location")
                if response.status_code not in (301, 302, 303, 307, 308) or not location:
                    break
                if hop == MAX_REDIRECTS:
                    raise ToolError(f"more than {MAX_REDIRECTS} redirects from {request.url}")
                # A hop's cookies (a login's session) belong to the hop's URL, not to the final page.
                await self._keep_cookies(profile, url, response)
                following = _join(url, location)
                target = await self.check(following)
                if response.status_code == 303 or (response.status_code in (301, 302) and method == "POST"):
                    method, body = "GET", None
                    headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
                if _origin(following) != _origin(url):  # credentials stay with their origin, as browsers do
                    headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
                url = following
                response, content = await self._fetch_pinned(profile, target, method, headers, body)
        except ToolError as exc:
            profile.refused.append(str(exc))
            await quietly(route.abort("blockedbyclient"))
            return
        except Exception as exc:  # the page went away, or the server did not answer in time
            reason = (str(exc).splitlines() or [exc.__class__.__name__])[0]  # httpx timeouts have no text
            log.info("browser request failed: %s", reason, extra={"url": url})
            await quietly(route.abort("failed"))
            return
        if request.is_navigation_request() and _is_attachment(response):
            # Keyed by the URL Chromium asked for: redirects were followed here, so the download has that one.
            profile.expected.add(request.url)
            if self.settings.container is not None:
                profile.attachments[request.url] = content
                while len(profile.attachments) > ATTACHMENTS_KEPT:
                    del profile.attachments[next(iter(profile.attachments))]
        await quietly(route.fulfill(status=response.status_code, headers=_page_headers(response), body=content))

    def _client(self) -> httpx.AsyncClient:
        import httpx

        if self._http is None:
            # No proxies from the environment: a proxy would resolve the name again, past the guard.
            self._http = httpx.AsyncClient(follow_redirects=False, trust_env=False,
                                           timeout=self.settings.action_timeout_seconds,
                                           verify=self._tls_context if self._tls_context is not None else True)
        return self._http

    async def _fetch_pinned(self, profile: Profile, target: Target, method: str, headers: dict[str, str],
                            body: bytes | None) -> tuple[httpx.Response, bytes]:
        """One request to the address the guard checked (never resolved again), with the profile's cookies."""
        sent = {**headers, "Host": _host_header(target.url)}
        cookies = await profile.context.cookies(str(target.url))
        if cookies:
            sent["Cookie"] = "; ".join(f"{c.get('name', '')}={c.get('value', '')}" for c in cookies)
        extensions = {"sni_hostname": target.host} if target.url.scheme == "https" else {}
        client = self._client()
        outgoing = client.build_request(method, target.pinned_url(), headers=sent, content=body,
                                        extensions=extensions)
        response = await client.send(outgoing, stream=True)
        try:
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > MAX_BODY_BYTES:
                    raise ToolError(f"{target.url} answered more than {MAX_BODY_BYTES // (1024 * 1024)} MB")
                chunks.append(chunk)
        finally:
            await response.aclose()
        return response, b"".join(chunks)

    async def _keep_cookies(self, profile: Profile, url: str, response: httpx.Response) -> None:
        cookies = _set_cookies(url, response.headers.get_list("set-cookie"))
        if cookies:
            await quietly(profile.context.add_cookies(cookies))

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
        await self._drop_container()
        if self._http is not None:
            await quietly(self._http.aclose())
            self._http = None
        self.stopped.set()


def _join(base: str, location: str) -> str:
    from urllib.parse import urljoin

    return urljoin(base, location)


def _origin(url: str) -> tuple[str, str, int | None]:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return parts.scheme, parts.hostname or "", parts.port


def _host_header(url: httpx.URL) -> str:
    host = f"[{url.host}]" if ":" in url.host else url.host
    return f"{host}:{url.port}" if url.port else host


def _is_attachment(response: httpx.Response) -> bool:
    return str(response.headers.get("content-disposition", "")).strip().lower().startswith("attachment")


def _page_headers(response: httpx.Response) -> dict[str, str]:
    """The response's headers for route.fulfill: one value each, Set-Cookie lines kept apart by newlines
    (Playwright splits them again), so Chromium stores the cookies as if it had fetched the page."""
    merged: dict[str, list[str]] = {}
    for name, value in response.headers.multi_items():
        if name.lower() not in _DROP_RESPONSE:
            merged.setdefault(name.lower(), []).append(value)
    return {name: ("\n" if name == "set-cookie" else ", ").join(values) for name, values in merged.items()}


_SAME_SITE: dict[str, Literal["Lax", "None", "Strict"]] = {"lax": "Lax", "none": "None", "strict": "Strict"}


def _set_cookies(url: str, lines: list[str]) -> list[SetCookieParam]:
    """Set-Cookie lines of a redirect hop as Playwright cookies (RFC 6265's attributes that matter here)."""
    import email.utils
    import time
    from http.cookies import CookieError, SimpleCookie

    found: list[SetCookieParam] = []
    for line in lines:
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(line)
        except CookieError:
            continue
        for name, morsel in jar.items():
            cookie: SetCookieParam = {"name": name, "value": morsel.value}
            if morsel["domain"]:
                cookie["domain"] = morsel["domain"]
                cookie["path"] = morsel["path"] or "/"
            else:
                cookie["url"] = url
            if morsel["max-age"]:
                with contextlib.suppress(ValueError):  # a bad attribute leaves a session cookie, as browsers do
                    cookie["expires"] = time.time() + int(morsel["max-age"])
            elif morsel["expires"]:
                with contextlib.suppress(TypeError, ValueError):
                    cookie["expires"] = email.utils.parsedate_to_datetime(morsel["expires"]).timestamp()
            cookie["httpOnly"] = bool(morsel["httponly"])
            cookie["secure"] = bool(morsel["secure"])
            same_site = _SAME_SITE.get(str(morsel["samesite"]).lower())
            if same_site is not None:
                cookie["sameSite"] = same_site
            found.append(cookie)
    return found


async def quietly(awaitable: object) -> None:
    """Closing or answering a request whose page is already gone is not an error worth raising."""
    try:
        await awaitable  # type: ignore[misc]
    except Exception as exc:
        log.debug("browser cleanup: %s", exc)


async def _answer(profile: Profile, dialog: Dialog) -> None:
    """Answers a JavaScript dialog as armed by action 'dialog' (once), else dismisses it."""
    armed, profile.dialog = profile.dialog, None
    accept, prompt = armed if armed is not None else (False, None)
    profile.dialogs.append(f"{dialog.type} {dialog.message!r} {'accepted' if accept else 'dismissed'}")
    if accept:
        await quietly(dialog.accept(prompt) if prompt is not None else dialog.accept())
    else:
        await quietly(dialog.dismiss())
