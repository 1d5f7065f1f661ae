"""A screenshot the model takes with the `browser` tool shows in the web chat (real `rustyclaw serve`,
real Chromium twice: the gateway's browser tool and the Playwright page the user looks through)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.fixtures.llm_servers import LLMockServer

from .conftest import start_gateway


class _Page(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<!doctype html><title>Status board</title><h1 style='color:#c00'>All systems nominal</h1>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def site() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_a_browser_screenshot_appears_under_the_reply(
    page: Page, mock_llm: LLMockServer, site: str, tmp_path: Path, artifacts: Path
) -> None:
    gateway = start_gateway(tmp_path, mock_llm.base_url, browser={
        "enabled": True, "noSandbox": True, "allowPrivateNetwork": True, "viewportWidth": 640, "viewportHeight": 360})
    try:
        mock_llm.call_tool("browser", {"action": "open", "targetUrl": f"{site}/board"})
        mock_llm.call_tool("browser", {"action": "screenshot"}).reply("Here is the board.")
        page.goto(gateway.url + "/")
        expect(page.locator("#status")).to_have_text("connected")
        page.fill("#input", "show me the status board")
        page.press("#input", "Enter")
        image = page.locator(".msg.assistant img.attachment")
        expect(image).to_be_visible()
        expect(page.locator(".msg.assistant").last).to_contain_text("Here is the board.")
        expect(image).to_have_attribute("alt", "screenshot.png")
        # The picture decoded in the page: the gateway browser's viewport, not a broken image.
        # (img.decode() resolves once the image is decoded, so this waits for it rather than racing it.)
        assert image.evaluate("img => img.decode().then(() => [img.naturalWidth, img.naturalHeight])") == [640, 360]
        page.screenshot(path=str(artifacts / "web-chat-browser-screenshot.png"))
    finally:
        gateway.stop()
