"""The browser's console, dialog, pdf, upload, drag and resize actions (OpenClaw's names), called directly
against a page this test serves on 127.0.0.1, on Debian's Chromium."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from rustyclaw.adapters.tools.browser_pool import find_chromium
from rustyclaw.domain.errors import ToolError
from rustyclaw.ports.tools import ToolContext
from tests.integration.test_browser_tool import ref_of

pytestmark = pytest.mark.anyio

PAGE = """<!doctype html><title>Widgets</title>
<script>
console.log('page loaded'); console.warn('low stock'); console.error('payment widget failed');
function ask() {
  const name = prompt('Your name?');
  document.getElementById('answer').textContent = 'answer: ' + name;
  console.log('prompt answered ' + name);
}
function confirmIt() { document.getElementById('answer').textContent = 'confirmed: ' + confirm('Sure?'); }
function picked(f) { document.getElementById('answer').textContent = 'picked ' + f.name + ' ' + f.size; }
function sizeIt() { document.getElementById('size').textContent = 'size ' + innerWidth + 'x' + innerHeight; }
</script>
<button onclick="ask()">Ask</button><button onclick="confirmIt()">Confirm</button>
<button onclick="sizeIt()">Measure</button>
<label>Attachment <input type=file id=file onchange="picked(this.files[0])"></label>
<p id=answer>none</p><p id=size>unmeasured</p>
<div id=item role=button tabindex=0 draggable=true ondragstart="event.dataTransfer.setData('text', 'item')">Item</div>
<div id=bin role=region aria-label=Bin style="width:200px;height:100px;border:1px solid"
  ondragover="event.preventDefault()"
  ondrop="event.preventDefault(); this.textContent = 'dropped ' + event.dataTransfer.getData('text')">Bin</div>
"""


def _context() -> ToolContext:
    return ToolContext(agent_id="main", session_key="agent:main:main", session_id="s", channel="web", sender_id="u")


async def test_console_dialog_drag_and_resize(tmp_path: Path) -> None:
    from rustyclaw.config.browser import BrowserConfig
    from rustyclaw.tools_setup import browser_tool

    if find_chromium() is None:
        raise RuntimeError("no Chromium on PATH: run scripts/install.d/40-chromium.sh (Debian's chromium)")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(PAGE.encode())

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    section = BrowserConfig.model_validate({"enabled": True, "noSandbox": True, "allowPrivateNetwork": True})
    tool = browser_tool(section, lambda _: tmp_path, None)
    who = _context()
    try:
        await tool.run({"action": "open", "targetUrl": url}, who)
        errors = await tool.run({"action": "console", "level": "error"}, who)
        warnings = await tool.run({"action": "console", "level": "warning"}, who)
        snap = await tool.run({"action": "snapshot"}, who)
        armed = await tool.run({"action": "dialog", "accept": True, "promptText": "Ada"}, who)
        await tool.run({"action": "click", "ref": ref_of(snap, "button", "Ask")}, who)
        after_prompt = await tool.run({"action": "snapshot"}, who)
        # Not armed: the next dialog is dismissed (confirm answers false), the page goes on.
        await tool.run({"action": "click", "ref": ref_of(snap, "button", "Confirm")}, who)
        after_confirm = await tool.run({"action": "snapshot"}, who)
        everything = await tool.run({"action": "console"}, who)
        resized = await tool.run({"action": "act", "request": {"kind": "resize", "width": 500, "height": 400}}, who)
        await tool.run({"action": "click", "ref": ref_of(snap, "button", "Measure")}, who)
        measured = await tool.run({"action": "snapshot"}, who)
        snap = await tool.run({"action": "snapshot"}, who)
        dragged = await tool.run({"action": "act", "request": {
            "kind": "drag", "startRef": ref_of(snap, "button", "Item"), "endRef": ref_of(snap, "region", "Bin")}}, who)
        dropped = await tool.run({"action": "snapshot"}, who)
        printed = await tool.run({"action": "pdf"}, who)
        (tmp_path / "notes.txt").write_text("twelve bytes")
        (tmp_path.parent / "secret.txt").write_text("outside")
        uploaded = await tool.run({"action": "upload", "ref": ref_of(snap, "textbox", "Attachment"),
                                   "paths": ["notes.txt"]}, who)
        picked = await tool.run({"action": "snapshot"}, who)
        with pytest.raises(ToolError, match="inside the workspace"):
            await tool.run({"action": "upload", "ref": ref_of(snap, "textbox", "Attachment"),
                            "paths": ["../secret.txt"]}, who)
        with pytest.raises(ToolError, match="resize needs 'width' and 'height'"):
            await tool.run({"action": "resize", "width": 5}, who)
        with pytest.raises(ToolError, match="'level' must be one of"):
            await tool.run({"action": "console", "level": "loud"}, who)
    finally:
        await tool.aclose()
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
    assert errors == "[error] payment widget failed"
    assert warnings.splitlines() == ["[warning] low stock", "[error] payment widget failed"]
    assert armed == "the next dialog will be accepted"
    assert "answer: Ada" in after_prompt
    assert "confirmed: false" in after_confirm
    assert "[log] prompt answered Ada" in everything
    assert "[dialog] prompt 'Your name?' accepted" in everything and "[dialog] confirm 'Sure?' dismissed" in everything
    assert resized.startswith("resized to 500x400")
    assert "size 500x400" in measured
    assert uploaded.startswith("set ") and "picked notes.txt 12" in picked
    assert printed.startswith(f"saved {url} as PDF to downloads/page-t1-1.pdf (")
    assert (tmp_path / "downloads" / "page-t1-1.pdf").read_bytes()[:5] == b"%PDF-"
    assert dragged.startswith("dragged ") and "dropped item" in dropped
