"""The `browser` tool on Debian's Chromium (Playwright), driven by the model's tool calls (llmock)
through the real composition root, against pages this test serves on 127.0.0.1.

CI installs Chromium with scripts/install.d/40-chromium.sh; a missing one is an error, not a skip.
"""

from __future__ import annotations

import base64
import re
import secrets
import struct
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from rustyclaw.adapters.tools.browser_pool import find_chromium
from rustyclaw.adapters.tools.ssrf import Guard, Target
from rustyclaw.app import bootstrap
from rustyclaw.config.schema import RustyClawConfig
from rustyclaw.domain.messages import InboundMessage
from rustyclaw.settings import settings_of
from tests.fixtures.llm_servers import LLMockServer

pytestmark = pytest.mark.anyio


class Pages:
    """A small site: a form showing a one-time code, a page that never answers, and a download."""

    def __init__(self) -> None:
        self.code = secrets.token_hex(3)
        self.posts: list[dict[str, list[str]]] = []
        self.paths: list[str] = []
        self.release = threading.Event()  # /stall answers only when the test ends
        pages = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                pages.paths.append(self.path)
                if self.path == "/stall":
                    pages.release.wait()
                    return
                if self.path == "/report.txt":
                    self._send(b"quarterly numbers\n", "text/plain",
                               ("Content-Disposition", 'attachment; filename="report.txt"'))
                    return
                body = (
                    "<!doctype html><title>Order form</title><h1>Order</h1>"
                    f"<p id=code>Confirmation code: {pages.code}</p>"
                    "<form method=post action=/submit>"
                    "<label>Name <input name=name></label>"
                    "<label>Code <input name=code></label>"
                    "<button type=submit>Send order</button></form>"
                    "<a href=/report.txt>Report</a>"
                    if self.path != "/thanks" else "<!doctype html><title>Thanks</title><h1>Order received</h1>"
                )
                self._send(body.encode(), "text/html; charset=utf-8")

            def do_POST(self) -> None:
                pages.paths.append(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                pages.posts.append(parse_qs(self.rfile.read(length).decode()))
                self.send_response(303)
                self.send_header("Location", "/thanks")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def _send(self, body: bytes, kind: str, *extra: tuple[str, str]) -> None:
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                for name, value in extra:
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def pages() -> Iterator[Pages]:
    if find_chromium() is None:
        raise RuntimeError("no Chromium on PATH: run scripts/install.d/40-chromium.sh (Debian's chromium)")
    site = Pages()
    thread = threading.Thread(target=site.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield site
    finally:
        site.close()
        thread.join(timeout=10)


def config(tmp_path: Path, base_url: str, **browser: object) -> RustyClawConfig:
    (tmp_path / "ws").mkdir(exist_ok=True)
    return RustyClawConfig.model_validate({
        "gateway": {"stateDir": str(tmp_path / "state")},
        "agents": {"workspace": str(tmp_path / "ws")},
        # As root (CI containers) Chromium's own sandbox cannot start: the page tests use --no-sandbox too.
        "browser": {"enabled": True, "noSandbox": True, **browser},
        "llm": {"providers": {"mock": {"baseUrl": base_url}}, "routes": {"default": {"primary": "mock/m"}},
                "embedded": {"enabled": False}, "retry": {"attempts": 1}},
        "storage": {"backend": "sqlite"},
    })


def web(text: str, peer: str = "page-1") -> InboundMessage:
    return InboundMessage(channel="web", peer_id=peer, sender_id=peer, text=text, session_hint=peer)


def tool_results(mock_llm: LLMockServer) -> list[str]:
    """What the browser tool answered, in order (the last request carries the whole conversation)."""
    last = mock_llm.chat_bodies()[-1]
    return [str(m["content"]) for m in last["messages"] if m.get("role") == "tool"]


def ref_of(snapshot: str, role: str, label: str) -> str:
    found = re.search(rf'{role} "{re.escape(label)}" \[ref=(e\d+)\]', snapshot)
    assert found is not None, f"no {role} {label!r} in the snapshot:\n{snapshot}"
    return found.group(1)


async def test_the_model_reads_the_page_fills_the_form_and_the_server_gets_it(
    mock_llm: LLMockServer, pages: Pages, tmp_path: Path
) -> None:
    cfg = config(tmp_path, mock_llm.base_url, allowPrivateNetwork=True)
    mock_llm.call_tool("browser", {"action": "open", "targetUrl": f"{pages.url}/form"})
    mock_llm.call_tool("browser", {"action": "snapshot"}).reply("I can see the form.")
    async with bootstrap(settings_of(cfg), "core") as root:
        first = await root.gateway.handle(web("open the order form"))
        opened, snapshot = tool_results(mock_llm)
        # The model's view of the page: the code as text, the fields and the button by reference.
        code = re.search(r"Confirmation code: (\w+)", snapshot)
        assert code is not None and code.group(1) == pages.code
        name, code_field = ref_of(snapshot, "textbox", "Name"), ref_of(snapshot, "textbox", "Code")
        send = ref_of(snapshot, "button", "Send order")
        mock_llm.call_tool("browser", {"action": "act", "request": {"kind": "type", "ref": name, "text": "Ada"}})
        mock_llm.call_tool("browser", {"action": "type", "ref": code_field, "text": code.group(1)})
        mock_llm.call_tool("browser", {"action": "act", "request": {"kind": "click", "ref": send}})
        mock_llm.call_tool("browser", {"action": "snapshot"}).reply("Order sent.")
        second = await root.gateway.handle(web(f"fill in Ada and the code {code.group(1)}, then send"))
        results = tool_results(mock_llm)
    assert first is not None and first.text == "I can see the form."
    assert opened.startswith("tab t1: opened ") and "'Order form'" in opened
    assert second is not None and second.text == "Order sent."
    assert pages.posts == [{"name": ["Ada"], "code": [pages.code]}]
    clicked, after = results[-2], results[-1]
    assert clicked.startswith(f"clicked {send}; now at {pages.url}/submit")
    assert 'heading "Order received"' in after  # the 303 to /thanks was followed (each hop checked)


async def test_a_private_address_is_refused_without_the_setting(
    mock_llm: LLMockServer, pages: Pages, tmp_path: Path
) -> None:
    cfg = config(tmp_path, mock_llm.base_url)  # browser.allowPrivateNetwork defaults to false
    mock_llm.call_tool("browser", {"action": "open", "targetUrl": f"{pages.url}/form"}).reply("blocked")
    mock_llm.call_tool("browser", {"action": "open", "targetUrl": "http://[::ffff:127.0.0.1]:9/"}).reply("again")
    async with bootstrap(settings_of(cfg), "core") as root:
        await root.gateway.handle(web("open it"))
        await root.gateway.handle(web("and this"))
        refused, mapped = tool_results(mock_llm)
    assert refused.startswith("error: refused to fetch 127.0.0.1")
    assert "loopback" in refused and "browser.allowPrivateNetwork is false" in refused
    assert "error: refused" in mapped and "loopback" in mapped  # an IPv4-mapped IPv6 form is the same address
    assert pages.paths == []  # the browser never reached the server


async def test_an_action_that_hangs_times_out_and_the_browser_goes_on(
    mock_llm: LLMockServer, pages: Pages, tmp_path: Path
) -> None:
    cfg = config(tmp_path, mock_llm.base_url, allowPrivateNetwork=True, actionTimeoutSeconds=2)
    mock_llm.call_tool("browser", {"action": "open", "targetUrl": f"{pages.url}/stall"})
    mock_llm.call_tool("browser", {"action": "navigate", "targetUrl": f"{pages.url}/form"})
    mock_llm.call_tool("browser", {"action": "wait", "text": "never on this page"}).reply("done")
    async with bootstrap(settings_of(cfg), "core") as root:
        reply = await root.gateway.handle(web("open the slow page"))
        stalled, recovered, waited = tool_results(mock_llm)
    assert reply is not None and reply.text == "done"
    assert stalled.startswith("error: opening ") and "did not finish within 2 s" in stalled
    assert "/stall" in pages.paths
    assert recovered.startswith(f"opened {pages.url}/form")
    assert waited.startswith("error: wait failed: it did not finish within 2 s (browser.actionTimeoutSeconds)")


async def test_a_screenshot_arrives_as_an_image_on_the_web_chat(
    mock_llm: LLMockServer, pages: Pages, tmp_path: Path
) -> None:
    import httpx

    from rustyclaw.adapters.http.app import create_app
    from rustyclaw.adapters.http.settings import HttpSettings

    cfg = config(tmp_path, mock_llm.base_url, allowPrivateNetwork=True, viewportWidth=800, viewportHeight=600)
    mock_llm.call_tool("browser", {"action": "open", "targetUrl": f"{pages.url}/form"})
    mock_llm.call_tool("browser", {"action": "screenshot"}).reply("Here is the page.")
    mock_llm.reply("no picture this time")
    async with bootstrap(settings_of(cfg), "core") as root:
        app = create_app(root.gateway, HttpSettings(agent_ids=root.settings.agents.agent_ids))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as http:
            shot = (await http.post("/api/chat", json={"message": "show me the page", "session": "desk"})).json()
            later = (await http.post("/api/chat", json={"message": "thanks", "session": "desk"})).json()
    assert shot["reply"] == "Here is the page."
    (image,) = shot["attachments"]
    assert image["kind"] == "image" and image["mime"] == "image/png" and image["name"] == "screenshot.png"
    png = base64.b64decode(image["data"])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", png[16:24]) == (800, 600)  # the IHDR: the configured viewport
    assert tool_results(mock_llm)[-1].startswith(f"screenshot of {pages.url}/form (")
    assert later["attachments"] == []  # a screenshot belongs to its own turn's reply only


async def test_a_download_lands_in_the_agents_workspace(
    mock_llm: LLMockServer, pages: Pages, tmp_path: Path
) -> None:
    cfg = config(tmp_path, mock_llm.base_url, allowPrivateNetwork=True)
    mock_llm.call_tool("browser", {"action": "open", "targetUrl": f"{pages.url}/form"})
    mock_llm.call_tool("browser", {"action": "snapshot"}).reply("seen")
    async with bootstrap(settings_of(cfg), "core") as root:
        await root.gateway.handle(web("open"))
        report = ref_of(tool_results(mock_llm)[-1], "link", "Report")
        mock_llm.call_tool("browser", {"action": "click", "ref": report})
        mock_llm.call_tool("browser", {"action": "tabs"}).reply("downloaded")
        await root.gateway.handle(web("get the report"))
        tabs = tool_results(mock_llm)[-1]
    assert (tmp_path / "ws" / "downloads" / "report.txt").read_text() == "quarterly numbers\n"
    assert "downloads/report.txt" in tabs


class Probe(Pages):
    """A page that pulls an image from 127.0.0.1 and a link that redirects there; /secret records a hit."""

    def __init__(self) -> None:
        super().__init__()
        port = self.server.server_address[1]
        inner = self.server.RequestHandlerClass
        probe = self

        class Handler(inner):  # type: ignore[misc, valid-type]
            def do_GET(self) -> None:
                if self.path == "/page":
                    probe.paths.append(self.path)
                    body = (f"<title>Public</title><img alt=pixel src='http://127.0.0.1:{port}/secret.png'>"
                            "<a href=/hop>Next</a>").encode()
                    self._send(body, "text/html")
                elif self.path == "/hop":
                    probe.paths.append(self.path)
                    self.send_response(302)
                    self.send_header("Location", f"http://127.0.0.1:{port}/secret")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                else:
                    super().do_GET()

        self.server.RequestHandlerClass = Handler
        self.public_url = f"http://page.test:{port}"


class PublicName(Guard):
    """The guard's real rules, except that `page.test` stands in for a public name: it passes the
    check and is pinned to the test's server on 127.0.0.1 (nothing else could resolve it, so a page
    that loads proves the connection went to the checked address)."""

    async def check(self, raw: str | httpx.URL) -> Target:
        url = httpx.URL(raw)
        if url.host == "page.test":
            return Target(url=url, host=url.host, ip="127.0.0.1")
        return await super().check(raw)


async def test_subresources_and_redirect_hops_to_private_addresses_are_blocked(tmp_path: Path) -> None:
    """The page's own host passes the guard (`page.test`, see PublicName); the image it embeds and the
    redirect it answers both point at 127.0.0.1, which the guard refuses, so the server never sees them."""
    from rustyclaw.adapters.tools.browser import BrowserTool
    from rustyclaw.adapters.tools.browser_pool import BrowserPool, BrowserSettings
    from rustyclaw.domain.reply_media import ReplyMedia
    from rustyclaw.ports.tools import ToolContext

    if find_chromium() is None:
        raise RuntimeError("no Chromium on PATH: run scripts/install.d/40-chromium.sh (Debian's chromium)")
    site = Probe()
    thread = threading.Thread(target=site.server.serve_forever, daemon=True)
    thread.start()
    tool = BrowserTool(BrowserPool(BrowserSettings(no_sandbox=True), PublicName(), lambda _: tmp_path), ReplyMedia())
    who = ToolContext(agent_id="main", session_key="agent:main:main", session_id="s", channel="web", sender_id="u")
    try:
        opened = await tool.run({"action": "open", "targetUrl": f"{site.public_url}/page"}, who)
        snapshot = await tool.run({"action": "snapshot"}, who)
        link = ref_of(snapshot, "link", "Next")
        followed = await tool.run({"action": "click", "ref": link}, who)
    finally:
        await tool.aclose()
        site.close()
        thread.join(timeout=10)
    assert opened.startswith(f"tab t1: opened {site.public_url}/page (HTTP 200): 'Public'")
    assert "blocked requests: refused to fetch 127.0.0.1" in opened and "browser.allowPrivateNetwork" in opened
    # The redirect hop was checked before it was followed: the navigation ends on Chromium's error page.
    assert followed.startswith(f"clicked {link}; now at chrome-error://")
    assert "blocked requests: refused to fetch 127.0.0.1: it resolves to 127.0.0.1, a loopback" in followed
    assert site.paths == ["/page", "/hop"]  # neither /secret.png nor /secret was ever requested


def _context(session: str, agent: str = "main") -> Any:
    from rustyclaw.ports.tools import ToolContext

    return ToolContext(agent_id=agent, session_key=session, session_id=session, channel="web", sender_id="u")


@pytest.mark.parametrize("scope", ["agent", "session"])
async def test_profiles_are_per_agent_or_per_session_and_close_when_idle(
    pages: Pages, tmp_path: Path, scope: str
) -> None:
    import anyio

    from rustyclaw.config.browser import BrowserConfig
    from rustyclaw.tools_setup import browser_tool

    section = BrowserConfig.model_validate(
        {"enabled": True, "noSandbox": True, "allowPrivateNetwork": True, "scope": scope, "idleSeconds": 1})
    tool = browser_tool(section, lambda _: tmp_path, None)
    first, second = _context("agent:main:web:a"), _context("agent:main:web:b")
    try:
        await tool.run({"action": "open", "targetUrl": f"{pages.url}/form"}, first)
        seen_by_second = await tool.run({"action": "tabs"}, second)
        assert tool.pool.running
        # Nothing uses the browser for idleSeconds: its profiles close, then Chromium itself.
        with anyio.fail_after(30):
            await tool.pool.stopped.wait()
        assert not tool.pool.running
        after_idle = await tool.run({"action": "status"}, first)
    finally:
        await tool.aclose()
    if scope == "agent":
        assert seen_by_second.startswith(f"* t1: 'Order form' {pages.url}/form")  # one profile for the agent
    else:
        assert seen_by_second == "no tabs open"  # each session its own context
    assert after_idle == "browser stopped; this profile has 0 tab(s)"


async def test_a_screenshot_on_a_channel_without_images_says_so(
    mock_llm: LLMockServer, pages: Pages, tmp_path: Path
) -> None:
    cfg = config(tmp_path, mock_llm.base_url, allowPrivateNetwork=True)
    mock_llm.call_tool("browser", {"action": "open", "targetUrl": f"{pages.url}/form"})
    mock_llm.call_tool("browser", {"action": "screenshot"}).reply("described instead")
    async with bootstrap(settings_of(cfg), "core") as root:
        reply = await root.gateway.handle(InboundMessage(channel="signal", peer_id="7", sender_id="7", text="look"))
        shot = tool_results(mock_llm)[-1]
    assert reply is not None and reply.attachments == ()
    assert shot.startswith("screenshot taken (") and "the signal channel does not deliver images yet" in shot


async def test_fill_select_press_scroll_and_tabs(tmp_path: Path) -> None:
    """The rest of the action surface, called directly: fill several fields, select, press Enter to
    submit, scroll, a second tab, focus and close."""
    from rustyclaw.config.browser import BrowserConfig
    from rustyclaw.tools_setup import browser_tool

    posts: list[dict[str, list[str]]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = ("<!doctype html><title>Long form</title><form method=post action=/go>"
                    "<label>City <input name=city></label><label>Zip <input name=zip></label>"
                    "<label>Size <select name=size><option>S</option><option>M</option><option>L</option>"
                    "</select></label><button>Order</button></form>"
                    "<div style='height:3000px'></div><button>Far below</button>")
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(body.encode())

        def do_POST(self) -> None:
            posts.append(parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode()))
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(b"<title>Done</title>ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    section = BrowserConfig.model_validate({"enabled": True, "noSandbox": True, "allowPrivateNetwork": True})
    tool = browser_tool(section, lambda _: tmp_path, None)
    who = _context("agent:main:main")
    try:
        await tool.run({"action": "open", "targetUrl": url}, who)
        snap = await tool.run({"action": "snapshot"}, who)
        city, zip_, size = (ref_of(snap, "textbox", "City"), ref_of(snap, "textbox", "Zip"),
                            ref_of(snap, "combobox", "Size"))
        far = ref_of(snap, "button", "Far below")
        scrolled = await tool.run({"action": "scroll", "ref": far}, who)
        filled = await tool.run({"action": "act", "request": {
            "kind": "fill", "fields": [{"ref": city, "value": "Oslo"}, {"ref": zip_, "value": "0150"}]}}, who)
        selected = await tool.run({"action": "select", "ref": size, "values": ["L"]}, who)
        again = await tool.run({"action": "snapshot"}, who)
        pressed = await tool.run({"action": "press", "ref": ref_of(again, "textbox", "City"), "key": "Enter"}, who)
        second = await tool.run({"action": "open", "targetUrl": url}, who)
        tabs = await tool.run({"action": "tabs"}, who)
        focused = await tool.run({"action": "focus", "targetId": "t1"}, who)
        closed = await tool.run({"action": "close", "targetId": "t2"}, who)
        with pytest.raises(Exception, match="'ref' must be a reference from the latest snapshot"):
            await tool.run({"action": "click", "ref": "#submit"}, who)
    finally:
        await tool.aclose()
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
    assert scrolled.startswith(f"scrolled {far} into view")
    assert filled.startswith("filled 2 field(s)") and selected.startswith(f"selected L in {size}")
    assert 'textbox "City"' in again and ": Oslo" in again and ": L" in again  # values show in the snapshot
    assert pressed.startswith(f"pressed Enter; now at {url}go")
    assert posts == [{"city": ["Oslo"], "zip": ["0150"], "size": ["L"]}]
    assert second.startswith("tab t2: opened ") and tabs.count("\n") == 1 and tabs.startswith("  t1: 'Done'")
    assert focused == "focused tab t1" and closed == "closed tab t2; 1 tab(s) left"
