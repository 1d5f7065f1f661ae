"""web_fetch (SSRF guard, redirects, caps, HTML to text) and web_search against real local HTTP servers."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from rustyclaw.adapters.tools.ssrf import Guard, system_resolver
from rustyclaw.adapters.tools.web_fetch import WebFetchTool
from rustyclaw.adapters.tools.web_search import WebSearchTool
from rustyclaw.domain.errors import ToolError
from rustyclaw.ports.tools import ToolContext

pytestmark = pytest.mark.anyio
CTX = ToolContext(agent_id="main", session_key="agent:main:main", session_id="s", channel="web", sender_id="u")
PUBLIC_IP = "93.184.216.34"  # a globally routable address; the test transport sends it to the local server

PAGE = b"""<html><head><title>Test  Page</title><style>body{color:red}</style>
<script>alert('x')</script></head><body><h1>Hello</h1><p>First   paragraph
with a <a href="/x">link</a>.</p><ul><li>one</li><li>two</li></ul><noscript>no</noscript></body></html>"""


class Handler(BaseHTTPRequestHandler):
    routes: dict[str, tuple[int, dict[str, str], bytes]] = {}
    seen: list[tuple[str, str]] = []

    def do_GET(self) -> None:
        self.seen.append((self.path, self.headers.get("Host", "")))
        path = urlsplit(self.path).path
        if path == "/slow":
            time.sleep(3)
        if path == "/search":
            query = parse_qs(urlsplit(self.path).query)
            status, body = (403, b"") if query.get("q") == ["forbidden"] else (200, json.dumps({"results": [
                {"title": f"Result {i} for {query['q'][0]}", "url": f"https://r{i}.test/", "content": "snippet " * 60}
                for i in range(1, 9)
            ]}).encode())
            self._send(status, {"Content-Type": "application/json"}, body)
            return
        status, headers, body = self.routes.get(path, (404, {"Content-Type": "text/plain"}, b"not found"))
        self._send(status, headers, body)

    def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with contextlib.suppress(OSError):
            self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        return None


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    port = httpd.server_address[1]
    Handler.routes = {
        "/page": (200, {"Content-Type": "text/html; charset=utf-8"}, PAGE),
        "/plain": (200, {"Content-Type": "text/plain"}, b"just text"),
        "/big": (200, {"Content-Type": "text/plain"}, b"x" * 50_000),
        "/image": (200, {"Content-Type": "image/png"}, b"\x89PNG...."),
        "/gone": (404, {"Content-Type": "text/plain"}, b"nothing here"),
        "/to-loopback": (302, {"Location": f"http://127.0.0.1:{port}/plain"}, b""),
        "/to-localhost": (302, {"Location": f"http://localhost:{port}/plain"}, b""),
        "/to-private": (302, {"Location": "http://10.1.2.3/"}, b""),
        "/to-metadata": (301, {"Location": "http://169.254.169.254/latest/meta-data/"}, b""),
        "/to-v6-loopback": (307, {"Location": f"http://[::1]:{port}/plain"}, b""),
        "/to-public": (302, {"Location": "/plain"}, b""),
        "/loop": (302, {"Location": "/loop"}, b""),
    }
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        httpd.shutdown()
        httpd.server_close()


class ToLocalServer(httpx.AsyncBaseTransport):
    """Delivers connections meant for PUBLIC_IP to the local server; records what was asked."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.asked: list[tuple[str, str, dict[str, Any]]] = []
        self._inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.asked.append((request.url.host, request.headers["host"], dict(request.extensions)))
        if request.url.host != PUBLIC_IP:
            raise AssertionError(f"connected to {request.url.host}, which the guard should have refused")
        request.url = request.url.copy_with(host="127.0.0.1", port=self.port)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


async def public_names(host: str, port: int) -> list[str]:
    if host.endswith(".example"):
        return ["127.0.0.1", PUBLIC_IP] if host.startswith("mixed") else [PUBLIC_IP]
    return await system_resolver(host, port)


def public_fetch(server: str, **kw: Any) -> tuple[WebFetchTool, ToLocalServer]:
    transport = ToLocalServer(int(server.rsplit(":", 1)[1]))
    return WebFetchTool(Guard(resolver=public_names), transport=transport, **kw), transport


@pytest.mark.parametrize(("url", "reason"), [
    ("http://127.0.0.1/", "loopback"),
    ("http://10.0.0.7:8080/x", "private"),
    ("http://192.168.1.1/", "private"),
    ("http://169.254.169.254/latest/meta-data/", "link-local"),
    ("http://[::1]/", "loopback"),
    ("http://[::ffff:127.0.0.1]/", "loopback"),
    ("http://localhost/", "loopback"),
    ("http://0.0.0.0/", "unspecified"),
    ("http://224.0.0.1/", "multicast"),
    ("http://100.64.0.1/", "not globally routable"),
])
async def test_private_and_loopback_addresses_are_refused(url: str, reason: str) -> None:
    tool = WebFetchTool(Guard())
    with pytest.raises(ToolError, match=f"a {reason} address"):
        await tool.run({"url": url}, CTX)
    await tool.aclose()


async def test_every_dns_answer_is_checked(server: str) -> None:
    tool, transport = public_fetch(server)
    with pytest.raises(ToolError, match=r"resolves to 127\.0\.0\.1"):
        await tool.run({"url": "http://mixed.example/plain"}, CTX)
    assert transport.asked == []
    await tool.aclose()


async def test_other_schemes_and_credentials_are_refused() -> None:
    tool = WebFetchTool(Guard())
    for url, match in [("file:///etc/passwd", "only http and https"), ("ftp://x.test/", "only http and https"),
                       ("http://user:pw@x.test/", "user name or password")]:
        with pytest.raises(ToolError, match=match):
            await tool.run({"url": url}, CTX)


async def test_a_public_page_is_fetched_pinned_to_the_checked_ip(server: str) -> None:
    tool, transport = public_fetch(server)
    text = await tool.run({"url": "http://news.example/page"}, CTX)
    assert text == "# Test Page\n\nHello\n\nFirst paragraph with a link.\n\n- one\n\n- two"
    assert transport.asked[0][:2] == (PUBLIC_IP, "news.example")
    https_tool, https_transport = public_fetch(server)
    with pytest.raises(ToolError):  # the local server speaks no TLS; what matters is what was asked
        await https_tool.run({"url": "https://news.example/page"}, CTX)
    host, header, extensions = https_transport.asked[0]
    assert (host, header, extensions.get("sni_hostname")) == (PUBLIC_IP, "news.example", "news.example")
    await tool.aclose()
    await https_tool.aclose()


@pytest.mark.parametrize(("path", "reason"), [
    ("/to-loopback", "loopback"), ("/to-localhost", "loopback"), ("/to-private", "private"),
    ("/to-metadata", "link-local"), ("/to-v6-loopback", "loopback"),
])
async def test_a_redirect_to_a_private_address_is_refused(server: str, path: str, reason: str) -> None:
    tool, transport = public_fetch(server)
    with pytest.raises(ToolError, match=f"a {reason} address"):
        await tool.run({"url": f"http://news.example{path}"}, CTX)
    assert [a[0] for a in transport.asked] == [PUBLIC_IP]  # only the first hop was ever connected
    await tool.aclose()


async def test_redirects_between_public_hosts_are_followed_and_bounded(server: str) -> None:
    tool, _ = public_fetch(server, max_redirects=3)
    assert await tool.run({"url": "http://news.example/to-public"}, CTX) == "just text"
    with pytest.raises(ToolError, match="more than 3 redirects"):
        await tool.run({"url": "http://news.example/loop"}, CTX)
    await tool.aclose()


async def test_private_network_allowed_by_config(server: str) -> None:
    tool = WebFetchTool(Guard(allow_private=True))
    assert await tool.run({"url": f"{server}/plain"}, CTX) == "just text"
    assert await tool.run({"url": f"{server}/to-localhost"}, CTX) == "just text"
    await tool.aclose()


async def test_size_cap_content_types_errors_and_time_cap(server: str) -> None:
    # The default time cap for the requests that must succeed (a loaded machine may be slow to
    # answer); the short one only where the server is made to be slower than it.
    tool = WebFetchTool(Guard(allow_private=True), max_bytes=1000)
    big = await tool.run({"url": f"{server}/big"}, CTX)
    assert big == "x" * 1000 + "\n[... truncated]"
    with pytest.raises(ToolError, match="is image/png, not text"):
        await tool.run({"url": f"{server}/image"}, CTX)
    with pytest.raises(ToolError, match=r"HTTP 404 .*nothing here"):
        await tool.run({"url": f"{server}/gone"}, CTX)
    impatient = WebFetchTool(Guard(allow_private=True), timeout=0.5)
    with pytest.raises(ToolError, match=r"longer than 0.5 s \(tools.web.fetch.timeoutSeconds\)"):
        await impatient.run({"url": f"{server}/slow"}, CTX)
    chars = WebFetchTool(Guard(allow_private=True), max_chars=5)
    assert await chars.run({"url": f"{server}/plain"}, CTX) == "just \n[... truncated]"
    await tool.aclose()
    await chars.aclose()


async def test_web_search_against_a_searxng_shaped_server(server: str) -> None:
    tool = WebSearchTool(server + "/", results=3)
    text = await tool.run({"query": "rusty claw"}, CTX)
    blocks = text.split("\n\n")
    assert len(blocks) == 3
    assert blocks[0].startswith("1. Result 1 for rusty claw\nhttps://r1.test/\nsnippet snippet")
    assert blocks[0].endswith("...")
    assert any(path.startswith("/search?") and "format=json" in path and "q=rusty+claw" in path
               for path, _ in Handler.seen)
    with pytest.raises(ToolError, match="enable 'json'"):
        await tool.run({"query": "forbidden"}, CTX)
    await tool.aclose()


async def test_web_search_needs_a_configured_instance(server: str) -> None:
    with pytest.raises(ToolError, match=r"tools\.web\.search\.baseUrl"):
        await WebSearchTool(None).run({"query": "x"}, CTX)
    closed = WebSearchTool("http://127.0.0.1:9")
    with pytest.raises(ToolError, match="did not answer"):
        await closed.run({"query": "x"}, CTX)
    await closed.aclose()
