"""The `browser` tool in sandboxed mode (`browser.sandbox.enabled`): BrowserPool starts Chromium in a
podman container (Docker API) and attaches over CDP; stopping or idling removes the container.

The page's requests are fetched by the gateway after the SSRF check (the pool's route), never by
Chromium itself, so a page this test serves on the host's 127.0.0.1 is reachable with
browser.allowPrivateNetwork and refused without it, exactly as in the host mode.
Needs the engine of scripts/services.d/20-podman.sh and its rustyclaw-sandbox image, and Debian's
chromium on the host; missing ones are errors, not skips.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import anyio
import docker
import pytest

from rustyclaw.adapters.sandbox.engine_client import resolve_base_url
from rustyclaw.adapters.tools.browser_container import LABEL
from rustyclaw.config.browser import BrowserConfig
from rustyclaw.domain.errors import ToolError
from rustyclaw.ports.tools import ToolContext
from rustyclaw.tools_setup import browser_tool
from tests.integration.test_browser_tool import ref_of

pytestmark = pytest.mark.anyio
WHO = ToolContext(agent_id="main", session_key="agent:main:main", session_id="s", channel="web", sender_id="u")


class Site:
    def __init__(self) -> None:
        self.code = secrets.token_hex(3)
        self.paths: list[str] = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:
                pass

            def do_GET(self) -> None:
                site.paths.append(self.path)
                if self.path == "/report.txt":
                    self._send(f"report {site.code}\n".encode(), "text/plain",
                               ("content-disposition", 'attachment; filename="report.txt"'))
                    return
                self._send(f"<title>Boxed</title><p id=code>code {site.code}</p><a href=/report.txt>Report</a>"
                           "<label>File <input type=file onchange=\"document.title = 'got ' + this.files[0].name\">"
                           "</label>".encode(), "text/html")

            def _send(self, body: bytes, kind: str, *extra: tuple[str, str]) -> None:
                self.send_response(200)
                self.send_header("content-type", kind)
                self.send_header("content-length", str(len(body)))
                for name, value in extra:
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def site() -> Iterator[Site]:
    served = Site()
    thread = threading.Thread(target=served.server.serve_forever, daemon=True)
    thread.start()
    yield served
    served.server.shutdown()
    served.server.server_close()


def _section(**extra: object) -> BrowserConfig:
    return BrowserConfig.model_validate({"enabled": True, "sandbox": {"enabled": True}, **extra})


def _browser_containers(engine: docker.DockerClient) -> set[str]:
    return {c.id for c in engine.containers.list(all=True, filters={"label": f"{LABEL}=1"})}


async def test_the_sandboxed_pool_opens_a_host_page_and_removes_its_container_on_stop_and_when_idle(
    site: Site, tmp_path: Path
) -> None:
    engine = docker.DockerClient(base_url=resolve_base_url())
    before = _browser_containers(engine)
    tool = browser_tool(_section(allowPrivateNetwork=True), lambda _: tmp_path, None)
    try:
        opened = await tool.run({"action": "open", "targetUrl": f"{site.url}/"}, WHO)
        snapshot = await tool.run({"action": "snapshot"}, WHO)
        started = _browser_containers(engine) - before
        assert len(started) == 1, started
        (container_id,) = started
        # Chromium runs in that container, not under this process.
        top = engine.api.top(container_id)
        assert any("/usr/lib/chromium/chromium" in " ".join(map(str, row)) for row in top["Processes"])
        stopped = await tool.run({"action": "stop"}, WHO)
    finally:
        await tool.aclose()
    assert opened.startswith(f"tab t1: opened {site.url}/ (HTTP 200): 'Boxed'"), opened
    assert f"code {site.code}" in snapshot
    assert stopped == "browser profile closed"
    assert container_id not in _browser_containers(engine)

    # Idle unloading removes the container too (the pool's `stopped` event is set when it is gone).
    idle = browser_tool(_section(allowPrivateNetwork=True, idleSeconds=0.5), lambda _: tmp_path, None)
    try:
        await idle.run({"action": "open", "targetUrl": f"{site.url}/again"}, WHO)
        assert len(_browser_containers(engine) - before) == 1
        with anyio.fail_after(60):
            await idle.pool.stopped.wait()
        assert _browser_containers(engine) - before == set()
    finally:
        await idle.aclose()
        engine.close()
    assert site.paths == ["/", "/again"]


async def test_without_allow_private_network_the_sandboxed_browser_refuses_a_private_address(
    site: Site, tmp_path: Path
) -> None:
    tool = browser_tool(_section(), lambda _: tmp_path, None)
    try:
        await tool.run({"action": "start"}, WHO)  # Chromium in its container first: the refusal is the guard's
        assert tool.pool.running
        with pytest.raises(ToolError) as refused:
            await tool.run({"action": "open", "targetUrl": f"{site.url}/secret"}, WHO)
    finally:
        await tool.aclose()
    assert "refused to fetch 127.0.0.1" in str(refused.value)
    assert "browser.allowPrivateNetwork" in str(refused.value)
    assert site.paths == []


async def test_downloads_and_uploads_work_with_chromium_in_the_container(site: Site, tmp_path: Path) -> None:
    """The download is written in the container, out of reach: the body the route fetched is saved to the
    workspace instead; an upload's file goes over CDP to the container's Chromium."""
    (tmp_path / "notes.txt").write_text("hello")
    tool = browser_tool(_section(allowPrivateNetwork=True), lambda _: tmp_path, None)
    try:
        await tool.run({"action": "open", "targetUrl": f"{site.url}/"}, WHO)
        snapshot = await tool.run({"action": "snapshot"}, WHO)
        await tool.run({"action": "click", "ref": ref_of(snapshot, "link", "Report")}, WHO)
        tabs = await tool.run({"action": "tabs"}, WHO)
        await tool.run({"action": "upload", "ref": ref_of(snapshot, "textbox", "File"), "paths": ["notes.txt"]}, WHO)
        after = await tool.run({"action": "tabs"}, WHO)
    finally:
        await tool.aclose()
    assert "downloads saved in the workspace: downloads/report.txt" in tabs
    assert (tmp_path / "downloads" / "report.txt").read_text() == f"report {site.code}\n"
    assert "'got notes.txt'" in after

