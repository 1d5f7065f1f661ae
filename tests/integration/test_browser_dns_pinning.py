"""DNS pinning in the browser's request route: a name is resolved once, by the guard, and the request
goes to that checked address; a DNS answer that changes after the check (rebinding), or a system
resolver that disagrees with the checked answer, never reaches a private address. Cookies still go
with the pinned requests (the profile's store, a redirect hop's Set-Cookie included).

The resolver is the guard's injection point (`resolver=`): the guard, the route and Chromium are real.
"""

from __future__ import annotations

import functools
import ssl
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from rustyclaw.adapters.tools.browser import BrowserTool
from rustyclaw.adapters.tools.browser_pool import find_chromium
from rustyclaw.config.browser import BrowserConfig
from rustyclaw.domain.errors import ToolError
from rustyclaw.ports.tools import ToolContext
from rustyclaw.tools_setup import browser_tool

pytestmark = pytest.mark.anyio
WHO = ToolContext(agent_id="main", session_key="agent:main:main", session_id="s", channel="web", sender_id="u")
PUBLIC = "93.184.216.34"  # a globally routable address: the guard lets it pass


class Site:
    """On 127.0.0.1: /login sets a cookie and redirects to /home, which sets another; /check echoes Cookie."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:
                pass

            def do_GET(self) -> None:
                site.paths.append(self.path)
                if self.path == "/login":
                    self.send_response(302)
                    self.send_header("Location", "/home")
                    self.send_header("Set-Cookie", "session=s1; Path=/; HttpOnly")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if self.path.startswith("/chain/") and self.path != "/chain/0":
                    self.send_response(302)
                    self.send_header("Location", f"/chain/{int(self.path.rsplit('/', 1)[1]) - 1}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if self.path == "/home":
                    self._page("<title>Home</title><a href=/check>Check</a>",
                               ("Set-Cookie", "theme=dark; Path=/"), ("Set-Cookie", "lang=en; Path=/"))
                    return
                self._page(f"<title>Check</title><p id=seen>cookies: {self.headers.get('Cookie')}</p>")

            def _page(self, html: str, *extra: tuple[str, str]) -> None:
                body = html.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                for name, value in extra:
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]


@pytest.fixture
def site() -> Iterator[Site]:
    if find_chromium() is None:
        raise RuntimeError("no Chromium on PATH: run scripts/install.d/40-chromium.sh (Debian's chromium)")
    served = Site()
    thread = threading.Thread(target=served.server.serve_forever, daemon=True)
    thread.start()
    yield served
    served.server.shutdown()
    served.server.server_close()


def _tool(tmp_path: Path, resolver: Any, **extra: object) -> BrowserTool:
    section = BrowserConfig.model_validate({"enabled": True, "noSandbox": True, **extra})
    return browser_tool(section, lambda _: tmp_path, None, resolver=resolver)


async def test_a_name_that_rebinds_to_loopback_after_the_first_lookup_is_refused(site: Site, tmp_path: Path) -> None:
    """The first answer (the navigation's own check) is public, every later one 127.0.0.1: the route's
    single lookup sees the loopback answer and refuses; the server never gets the request."""
    answers: list[str] = []

    async def rebinding(host: str, port: int) -> list[str]:
        answer = PUBLIC if not answers else "127.0.0.1"
        answers.append(answer)
        return [answer]

    tool = _tool(tmp_path, rebinding)
    try:
        with pytest.raises(ToolError) as refused:
            await tool.run({"action": "open", "targetUrl": f"http://rebind.test:{site.port}/check"}, WHO)
    finally:
        await tool.aclose()
    assert answers[0] == PUBLIC and "127.0.0.1" in answers[1:]
    assert "refused to fetch rebind.test: it resolves to 127.0.0.1, a loopback address" in str(refused.value)
    assert "browser.allowPrivateNetwork" in str(refused.value)
    assert site.paths == []


async def test_the_connection_goes_to_the_checked_address_not_to_what_the_system_resolves(
    site: Site, tmp_path: Path
) -> None:
    """`localhost` checked as public (the injected answer) while the system resolver, which Chromium and
    Playwright's own fetch would use, says 127.0.0.1: the request goes to the checked public address,
    so the server on 127.0.0.1 is never reached, and the navigation fails instead."""

    async def says_public(host: str, port: int) -> list[str]:
        return [PUBLIC]

    tool = _tool(tmp_path, says_public, actionTimeoutSeconds=5)
    try:
        with pytest.raises(ToolError) as failed:
            await tool.run({"action": "open", "targetUrl": f"http://localhost:{site.port}/check"}, WHO)
    finally:
        await tool.aclose()
    assert f"opening http://localhost:{site.port}/check failed" in str(failed.value)
    assert site.paths == []


async def test_pinned_requests_carry_the_profiles_cookies_including_a_redirect_hops(
    site: Site, tmp_path: Path
) -> None:
    """`app.test` resolves (injected) to 127.0.0.1, allowed here: the pinned fetch reaches the server
    by the checked address only (nothing else resolves `app.test`), and cookies set by the redirect
    hop and by the final page are sent with the next request and seen by the page's script."""

    async def app_dns(host: str, port: int) -> list[str]:
        return ["127.0.0.1"] if host == "app.test" else []

    base = f"http://app.test:{site.port}"
    tool = _tool(tmp_path, app_dns, allowPrivateNetwork=True, evaluateEnabled=True)
    try:
        opened = await tool.run({"action": "open", "targetUrl": f"{base}/login"}, WHO)
        script_sees = await tool.run({"action": "evaluate", "fn": "() => document.cookie"}, WHO)
        await tool.run({"action": "navigate", "targetUrl": f"{base}/check"}, WHO)
        snapshot = await tool.run({"action": "snapshot"}, WHO)
    finally:
        await tool.aclose()
    # The route follows the hop itself (a redirect handed to Chromium would be followed unchecked), so the
    # tab keeps the first URL while showing the final page.
    assert opened.startswith(f"tab t1: opened {base}/login (HTTP 200): 'Home'"), opened
    assert site.paths == ["/login", "/home", "/check"]
    sent = snapshot.split("cookies: ", 1)[1].split("\n", 1)[0]
    assert sorted(part.strip() for part in sent.split(";")) == ["lang=en", "session=s1", "theme=dark"]
    # HttpOnly stays out of the page's reach, as with a cookie Chromium had fetched itself.
    assert sorted(script_sees.removeprefix("result: ").strip('"').split("; ")) == ["lang=en", "theme=dark"]


async def test_without_the_route_chromium_cannot_connect_anywhere_itself(site: Site, tmp_path: Path) -> None:
    """The backstop: Chromium runs behind a proxy nobody listens on, so even a request the route did not
    handle (here: the route removed on purpose) fails instead of reaching the server."""
    tool = _tool(tmp_path, None, allowPrivateNetwork=True)
    try:
        opened = await tool.run({"action": "open", "targetUrl": f"http://127.0.0.1:{site.port}/check"}, WHO)
        profile = tool.pool.peek("agent:main")
        assert profile is not None
        await profile.context.unroute_all()
        with pytest.raises(ToolError) as failed:
            await tool.run({"action": "navigate", "targetUrl": f"http://127.0.0.1:{site.port}/direct"}, WHO)
    finally:
        await tool.aclose()
    assert opened.startswith("tab t1: opened")
    assert "ERR_PROXY_CONNECTION_FAILED" in str(failed.value)
    assert site.paths == ["/check"]


def _certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate it signed for `secure.test` (openssl, no network)."""
    ca_key, ca_crt = folder / "ca.key", folder / "ca.crt"
    key, csr, crt = folder / "server.key", folder / "server.csr", folder / "server.crt"
    run = functools.partial(subprocess.run, check=True, capture_output=True, timeout=60)
    run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca_crt,
         "-days", "2", "-subj", "/CN=RustyClaw test CA"])
    run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=secure.test"])
    extensions = folder / "san.cnf"
    extensions.write_text("subjectAltName=DNS:secure.test\n")
    run(["openssl", "x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key, "-CAcreateserial", "-out", crt,
         "-days", "2", "-extfile", extensions])
    return ca_crt, crt, key


async def test_https_is_pinned_with_the_name_kept_for_sni_and_the_certificate(tmp_path: Path) -> None:
    """`secure.test` and `other.test` both resolve (injected) to 127.0.0.1, where a TLS server holds a
    certificate for secure.test only: the pinned connection (to the IP) sends the name for SNI and checks
    the certificate against it, so secure.test loads and other.test is refused."""
    from rustyclaw.adapters.tools.browser_pool import BrowserPool, BrowserSettings
    from rustyclaw.adapters.tools.ssrf import Guard

    if find_chromium() is None:
        raise RuntimeError("no Chromium on PATH: run scripts/install.d/40-chromium.sh (Debian's chromium)")
    ca, crt, key = _certificates(tmp_path)
    seen: list[str | None] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_: Any) -> None:
            pass

        def do_GET(self) -> None:
            seen.append(self.headers.get("Host"))
            body = b"<title>Secure</title><p>over TLS</p>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(crt, key)
    server.socket = server_tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = server.server_address[1]

    async def local(host: str, port: int) -> list[str]:
        return ["127.0.0.1"] if host in ("secure.test", "other.test") else []

    trust = ssl.create_default_context(cafile=str(ca))
    pool = BrowserPool(BrowserSettings(no_sandbox=True), Guard(allow_private=True, resolver=local),
                       lambda _: tmp_path, tls_context=trust)
    tool = BrowserTool(pool, None)
    try:
        opened = await tool.run({"action": "open", "targetUrl": f"https://secure.test:{port}/"}, WHO)
        with pytest.raises(ToolError) as mismatch:
            await tool.run({"action": "navigate", "targetUrl": f"https://other.test:{port}/"}, WHO)
    finally:
        await tool.aclose()
        server.shutdown()
        server.server_close()
    assert opened.startswith(f"tab t1: opened https://secure.test:{port}/ (HTTP 200): 'Secure'"), opened
    assert seen == [f"secure.test:{port}"]  # the Host header kept the name; other.test never got past TLS
    assert f"opening https://other.test:{port}/ failed" in str(mismatch.value)


async def test_five_redirects_are_followed_and_a_sixth_is_refused(site: Site, tmp_path: Path) -> None:
    tool = _tool(tmp_path, None, allowPrivateNetwork=True)
    base = f"http://127.0.0.1:{site.port}"
    try:
        five = await tool.run({"action": "open", "targetUrl": f"{base}/chain/5"}, WHO)
        with pytest.raises(ToolError) as six:
            await tool.run({"action": "navigate", "targetUrl": f"{base}/chain/6"}, WHO)
    finally:
        await tool.aclose()
    assert five.startswith(f"tab t1: opened {base}/chain/5 (HTTP 200): 'Check'"), five
    assert f"more than 5 redirects from {base}/chain/6" in str(six.value)
