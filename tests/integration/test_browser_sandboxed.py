"""Chromium in a podman container (Docker API), Playwright attached over CDP from the host.

Chromium connects nowhere itself (a proxy nobody listens on): the page is fetched on the host's side.
Needs the engine of scripts/services.d/20-podman.sh and its rustyclaw-sandbox image, and Debian's
chromium on the host (bind-mounted read-only into the container); missing ones are errors, not skips.
"""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import docker
import pytest
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Route

from rustyclaw.adapters.sandbox.engine_client import resolve_base_url
from rustyclaw.adapters.tools.browser_container import LABEL, start_container

pytestmark = pytest.mark.anyio


class Site:
    def __init__(self) -> None:
        self.code = secrets.token_hex(3)
        self.posts: list[dict[str, list[str]]] = []
        self.gets = 0
        site = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:
                pass

            def do_GET(self) -> None:
                site.gets += 1
                body = (f"<p id=code>code {site.code}</p><form method=post action=/submit>"
                        "<input name=answer aria-label=Answer><button>Send</button></form>").encode()
                self._send(body)

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                site.posts.append(parse_qs(self.rfile.read(length).decode()))
                self._send(b"<p>thanks</p>")

            def _send(self, body: bytes) -> None:
                self.send_response(200)
                self.send_header("content-type", "text/html")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        # On all addresses: the container could reach it through host.containers.internal (it must not).
        self.server = ThreadingHTTPServer(("0.0.0.0", 0), Handler)
        self.port = self.server.server_address[1]


@pytest.fixture
def site() -> Iterator[Site]:
    served = Site()
    thread = threading.Thread(target=served.server.serve_forever, daemon=True)
    thread.start()
    yield served
    served.server.shutdown()
    served.server.server_close()


async def test_chromium_in_the_container_fills_a_form_the_host_serves_and_is_removed_on_close(site: Site) -> None:
    from playwright.async_api import async_playwright

    name = f"rustyclaw-browser-test-{secrets.token_hex(4)}"
    handle = await start_container(name)
    engine = docker.DockerClient(base_url=resolve_base_url())
    try:
        info = engine.api.inspect_container(handle.container_id)
        assert info["State"]["Running"]
        assert info["Config"]["Labels"][LABEL] == "1"
        host_config = info["HostConfig"]
        assert host_config["ReadonlyRootfs"] is True
        assert "no-new-privileges" in " ".join(host_config["SecurityOpt"] or [])
        assert info["Config"]["User"] == "1000:1000"
        # The CDP port is published on the host's loopback only.
        bound = info["NetworkSettings"]["Ports"]["9222/tcp"]
        assert {entry["HostIp"] for entry in bound} == {"127.0.0.1"}
        # Chromium runs in the container: the engine lists it among the container's processes,
        # and none of the host's processes under this test is a chromium.
        top = engine.api.top(handle.container_id)
        commands = [" ".join(map(str, row)) for row in top["Processes"]]
        assert any("/usr/lib/chromium/chromium" in command for command in commands), commands
        own_children = _children_of(os.getpid())
        assert not [pid for pid in own_children if "chromium" in _cmdline(pid)]

        async with async_playwright() as pw:
            browser = await pw.chromium.connect_over_cdp(handle.cdp_url)
            context = await browser.new_context()
            page = await context.new_page()
            # The container is on `bridge` and the host's page is reachable from it, but its Chromium runs
            # behind a proxy nobody listens on: on its own it connects nowhere.
            with pytest.raises(PlaywrightError, match="ERR_PROXY_CONNECTION_FAILED"):
                await page.goto(f"http://host.containers.internal:{site.port}/", timeout=20_000)
            assert site.posts == [] and site.gets == 0
            # As BrowserPool does: requests are fetched on the host's side and handed to the page.
            await context.route("**/*", lambda route: _fetch_on_host(route))
            await page.goto(f"http://127.0.0.1:{site.port}/", timeout=20_000)
            text = await page.inner_text("#code")
            assert text == f"code {site.code}"
            await page.get_by_label("Answer").fill(text.split()[1])
            async with page.expect_navigation():
                await page.get_by_role("button", name="Send").click()
            assert site.posts == [{"answer": [site.code]}]
            await browser.close()
    finally:
        await handle.aclose()
    remaining = engine.containers.list(all=True, filters={"name": name})
    engine.close()
    assert remaining == []


async def _fetch_on_host(route: Route) -> None:
    response = await route.fetch()
    await route.fulfill(response=response)


def _children_of(pid: int) -> list[int]:
    found: list[int] = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    parent = int(fh.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            if parent == pid:
                found.append(int(entry))
    return found


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""
