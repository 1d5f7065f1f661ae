"""OpenClaw's browser tool names this tool also takes: `profiles`, act kind `close`, click `doubleClick` /
`button` / `modifiers`, type `slowly`, screenshot `type: jpeg`, `timeoutMs`, and the aliases `url`
(targetUrl) and `inputRef` (upload's ref); on Debian's Chromium against a page served on 127.0.0.1."""

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
from rustyclaw.domain.reply_media import ReplyMedia
from rustyclaw.ports.tools import ToolContext
from rustyclaw.tools_setup import browser_tool
from tests.integration.test_browser_tool import ref_of

pytestmark = pytest.mark.anyio
WHO = ToolContext(agent_id="main", session_key="agent:main:main", session_id="s", channel="web", sender_id="u")
PAGE = b"""<!doctype html><title>Widgets</title>
<script>
const log = (line) => { document.getElementById('log').textContent += line + ';'; };
</script>
<button onclick="log('click')" ondblclick="log('dblclick')"
  onauxclick="log('aux' + event.button)" oncontextmenu="event.preventDefault()"
  onmousedown="if (event.shiftKey) log('shift')">Press</button>
<label>Search <input id=q onkeydown="log('key' + event.key)"></label>
<label>File <input type=file id=file onchange="log('file ' + this.files[0].name)"></label>
<p id=log></p>"""


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


def _tool(tmp_path: Path, media: ReplyMedia | None = None) -> BrowserTool:
    section = BrowserConfig.model_validate({"enabled": True, "noSandbox": True, "allowPrivateNetwork": True})
    return browser_tool(section, lambda _: tmp_path, media)


def _log(snapshot: str) -> str:
    return next(line for line in snapshot.splitlines() if "click" in line or "key" in line or "file" in line)


async def test_openclaw_names_and_aliases(url: str, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    media = ReplyMedia()
    tool = _tool(tmp_path, media)
    try:
        before = await tool.run({"action": "profiles"}, WHO)
        opened = await tool.run({"action": "open", "url": url}, WHO)  # OpenClaw's newer spelling of targetUrl
        after = await tool.run({"action": "profiles"}, WHO)
        snap = await tool.run({"action": "snapshot"}, WHO)
        press, search = ref_of(snap, "button", "Press"), ref_of(snap, "textbox", "Search")
        await tool.run({"action": "act", "request": {"kind": "click", "ref": press, "doubleClick": True}}, WHO)
        await tool.run({"action": "click", "ref": press, "button": "middle"}, WHO)
        await tool.run({"action": "click", "ref": press, "modifiers": ["Shift"]}, WHO)
        await tool.run({"action": "type", "ref": search, "text": "abc", "slowly": True}, WHO)
        file_ref = ref_of(snap, "textbox", "File")
        uploaded = await tool.run({"action": "upload", "inputRef": file_ref, "paths": ["notes.txt"]}, WHO)
        log = _log(await tool.run({"action": "snapshot"}, WHO))
        shot = await tool.run({"action": "screenshot", "type": "jpeg"}, WHO)
        with pytest.raises(ToolError) as waited:
            await tool.run({"action": "wait", "text": "never there", "timeoutMs": 300}, WHO)
        with pytest.raises(ToolError) as bad_button:
            await tool.run({"action": "click", "ref": press, "button": "fourth"}, WHO)
        closed = await tool.run({"action": "act", "request": {"kind": "close"}}, WHO)
    finally:
        await tool.aclose()
    assert before == "this conversation's profile: agent:main (browser.scope: agent); open profiles: none"
    assert opened.startswith(f"tab t1: opened {url} (HTTP 200): 'Widgets'")
    assert after.endswith("open profiles: agent:main")
    # A double click is two clicks and a dblclick; the middle button an auxclick; Shift held on the third.
    assert "click;click;dblclick;" in log and "aux1;" in log and "shift;" in log
    assert "keya;keyb;keyc;" in log  # slowly: one keydown per character (after the field is cleared)
    assert uploaded.startswith(f"set {file_ref} to 1 file(s)") and "file notes.txt;" in log
    assert "attached to the reply" in shot
    (image,) = media.take(WHO.session_key)
    assert image.mime == "image/jpeg" and image.data is not None and image.data[:3] == b"\xff\xd8\xff"
    assert "did not finish within 300 ms (timeoutMs)" in str(waited.value)
    assert "'button' must be one of left, right, middle" in str(bad_button.value)
    assert closed == "closed tab t1; 0 tab(s) left"
