"""The browser's `evaluate` action (OpenClaw's, gated by browser.evaluateEnabled) on Debian's Chromium,
against a page this test serves on 127.0.0.1."""

from __future__ import annotations

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
from tests.integration.test_browser_tool import ref_of

pytestmark = pytest.mark.anyio
WHO = ToolContext(agent_id="main", session_key="agent:main:main", session_id="s", channel="web", sender_id="u")
PAGE = b"""<!doctype html><title>Prices</title>
<ul><li class=price>3.50</li><li class=price>12.00</li></ul><button id=buy>Buy now</button>"""


@pytest.fixture
def url() -> Iterator[str]:
    if find_chromium() is None:
        raise RuntimeError("no Chromium on PATH: run scripts/install.d/40-chromium.sh (Debian's chromium)")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(PAGE)))
            self.end_headers()
            self.wfile.write(PAGE)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def _tool(tmp_path: Path, **extra: object) -> BrowserTool:
    section = BrowserConfig.model_validate({"enabled": True, "noSandbox": True, "allowPrivateNetwork": True, **extra})
    return browser_tool(section, lambda _: tmp_path, None)


async def test_evaluate_is_refused_unless_browser_evaluate_enabled(url: str, tmp_path: Path) -> None:
    tool = _tool(tmp_path)
    try:
        await tool.run({"action": "open", "targetUrl": url}, WHO)
        with pytest.raises(ToolError) as as_action:
            await tool.run({"action": "evaluate", "fn": "() => document.title"}, WHO)
        with pytest.raises(ToolError) as as_kind:
            await tool.run({"action": "act", "request": {"kind": "evaluate", "fn": "() => 1"}}, WHO)
    finally:
        await tool.aclose()
    for refused in (as_action.value, as_kind.value):
        assert "action 'evaluate' is off" in str(refused) and "browser.evaluateEnabled: true" in str(refused)


async def test_evaluate_returns_json_truncated_runs_on_a_ref_and_stops_a_script_that_never_ends(
    url: str, tmp_path: Path
) -> None:
    tool = _tool(tmp_path, evaluateEnabled=True, evaluateMaxChars=40, actionTimeoutSeconds=2)
    try:
        await tool.run({"action": "open", "targetUrl": url}, WHO)
        prices = await tool.run({"action": "evaluate", "fn": (
            "() => ({title: document.title, prices: [...document.querySelectorAll('.price')]"
            ".map(e => Number(e.textContent))})")}, WHO)
        long = await tool.run({"action": "evaluate", "fn": "() => 'x'.repeat(100)"}, WHO)
        button = ref_of(await tool.run({"action": "snapshot"}, WHO), "button", "Buy now")
        on_ref = await tool.run({"action": "act", "request": {"kind": "evaluate", "ref": button,
                                                              "fn": "(el) => el.id"}}, WHO)
        with pytest.raises(ToolError) as thrown:
            await tool.run({"action": "evaluate", "fn": "() => { throw new Error('no such widget') }"}, WHO)
        with pytest.raises(ToolError) as endless:
            await tool.run({"action": "evaluate", "fn": "() => { while (true) {} }"}, WHO)
        # The endless script was terminated: the same tab answers the next call.
        after = await tool.run({"action": "evaluate", "fn": "() => document.querySelectorAll('li').length"}, WHO)
    finally:
        await tool.aclose()
    assert prices == 'result: {"title": "Prices", "prices": [3.5, 12]}'
    assert long == 'result: "' + "x" * 39 + "\n[... truncated at 40 of 102 characters]"
    assert on_ref == 'result: "buy"'
    assert "evaluate failed" in str(thrown.value) and "no such widget" in str(thrown.value)
    assert "did not finish within 2 s" in str(endless.value) and "the script was stopped" in str(endless.value)
    assert after == "result: 2"
