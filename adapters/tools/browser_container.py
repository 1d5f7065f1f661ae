"""Chromium inside a sandbox container, reached over CDP (the groundwork of the browser's sandboxed mode).

BrowserPool uses it when `browser.sandbox.enabled`: `start_container` gives a CDP URL that
Playwright's `chromium.connect_over_cdp` attaches to; `BrowserContainer.aclose` removes the container.

Image choice: the existing `rustyclaw-sandbox` image (Debian bookworm minbase, already built and
cached by scripts/services.d/20-podman.sh) with the host's /usr bind-mounted read-only over the
container's /usr. A separate image with Debian's chromium package would isolate the browser's
files from the host's, but it costs a ~350 MB Chromium plus its library closure per build and a
second copy to keep patched; the read-only /usr gives the container the host's (already patched)
Chromium and every library it links, with nothing of the host writable. The process itself is
still confined: its own PID, mount and network namespaces, non-root, all capabilities dropped,
no new privileges, memory and pids limits, read-only root with tmpfs /tmp and /dev/shm.

Chromium's headless mode binds the DevTools port to 127.0.0.1 only (--remote-debugging-address
is ignored), so a tiny asyncio forwarder in the container's python3 listens on 0.0.0.0 and relays
to it; the engine publishes that port on the host's 127.0.0.1 only.
The network is `bridge` only so the engine can publish the CDP port (`none` has no ports): the
browser itself connects nowhere. The pool's route fetches every request on the host's side (SSRF
guard, pinned address) and fulfills it over CDP, and Chromium runs behind a proxy nobody listens on
(NO_DIRECT_NETWORK), so a request that slipped past the route would fail rather than connect.
"""

from __future__ import annotations

import http.client
import json
import shlex
import time
from dataclasses import dataclass
from typing import Any

import anyio

from rustyclaw.adapters.sandbox.engine_client import EngineClient, is_missing
from rustyclaw.domain.errors import SandboxError

LABEL = "rustyclaw.browser"
CDP_PORT = 9222
_INNER_PORT = 9223
DEFAULT_IMAGE = "rustyclaw-sandbox:latest"
CHROMIUM_IN_CONTAINER = "/usr/lib/chromium/chromium"
# Chromium never needs the network itself: the pool's route fetches every request (pinned, checked)
# and fulfills it. A proxy nobody listens on, loopback included, makes that a rule rather than a hope:
# a request that ever slipped past the route fails instead of connecting, and WebRTC may not use UDP
# around the proxy. Used on the host and in the container alike.
NO_DIRECT_NETWORK = ("--proxy-server=http://127.0.0.1:1", "--proxy-bypass-list=<-loopback>",
                     "--force-webrtc-ip-handling-policy=disable_non_proxied_udp")

# Relays CDP from 0.0.0.0:9222 to Chromium's 127.0.0.1:9223 (retrying while Chromium starts).
_FORWARDER = f"""import asyncio
async def pipe(r, w):
    try:
        while (d := await r.read(65536)):
            w.write(d); await w.drain()
    finally:
        w.close()
async def handle(r, w):
    for _ in range(200):
        try:
            ur, uw = await asyncio.open_connection("127.0.0.1", {_INNER_PORT}); break
        except OSError:
            await asyncio.sleep(0.1)
    else:
        w.close(); return
    await asyncio.gather(pipe(r, uw), pipe(ur, w), return_exceptions=True)
async def main():
    async with await asyncio.start_server(handle, "0.0.0.0", {CDP_PORT}) as srv:
        await srv.serve_forever()
asyncio.run(main())
"""


@dataclass(frozen=True, slots=True)
class ContainerSettings:
    image: str = DEFAULT_IMAGE
    memory: str = "1g"
    pids_limit: int = 512
    user: str = "1000:1000"
    start_timeout_seconds: float = 30.0
    # The engine's URL; None: $DOCKER_HOST, else RustyClaw's podman socket, else Docker's.
    base_url: str | None = None


@dataclass
class BrowserContainer:
    engine: EngineClient
    container_id: str
    cdp_url: str

    async def aclose(self) -> None:
        client = await self.engine.get()
        try:
            await self.engine.call(client.api.remove_container, self.container_id, force=True, v=True)
        except SandboxError as exc:
            if not (isinstance(exc.__cause__, Exception) and is_missing(exc.__cause__)):
                raise
        finally:
            await self.engine.aclose()


def chromium_command(headless: bool = True) -> list[str]:
    flags = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--disable-extensions",
             f"--remote-debugging-port={_INNER_PORT}", "--user-data-dir=/tmp/profile", *NO_DIRECT_NETWORK]
    if headless:
        flags.insert(0, "--headless")
    # Chromium in the background, the forwarder as PID 1's child; `$0` is the forwarder's source.
    chromium = shlex.join([CHROMIUM_IN_CONTAINER, *flags, "about:blank"])  # `<-loopback>` must not redirect
    return ["sh", "-c", f'{chromium} 2>/tmp/chromium.log & exec python3 -c "$0"', _FORWARDER]


def create_kwargs(settings: ContainerSettings, name: str) -> dict[str, Any]:
    return {
        "command": chromium_command(),
        "name": name,
        "labels": {LABEL: "1"},
        "network_mode": "bridge",
        "mem_limit": settings.memory,
        "pids_limit": settings.pids_limit,
        "user": settings.user,
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "read_only": True,
        "tmpfs": {"/tmp": "rw,nosuid,nodev,mode=1777", "/dev/shm": "rw,nosuid,nodev,mode=1777"},
        "volumes": {"/usr": {"bind": "/usr", "mode": "ro"}, "/etc/fonts": {"bind": "/etc/fonts", "mode": "ro"}},
        # The CDP port on the host's loopback only, on a port the engine picks.
        "ports": {f"{CDP_PORT}/tcp": ("127.0.0.1", None)},
        "environment": {"HOME": "/tmp"},
        "detach": True,
    }


def _cdp_answers(port: int) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1.0)
    try:
        conn.request("GET", "/json/version")
        body = conn.getresponse().read()
        return "webSocketDebuggerUrl" in json.loads(body)
    except (OSError, ValueError, http.client.HTTPException):
        return False
    finally:
        conn.close()


async def start_container(name: str, settings: ContainerSettings | None = None,
                          base_url: str | None = None) -> BrowserContainer:
    """Creates and starts the container, waits (with a deadline) until CDP answers on the host."""
    settings = settings or ContainerSettings()
    engine = EngineClient(base_url or settings.base_url)
    client = await engine.get()
    container = await engine.call(client.containers.run, settings.image, image=settings.image,
                                  **create_kwargs(settings, name))
    handle = BrowserContainer(engine, str(container.id), "")
    try:
        info: dict[str, Any] = await engine.call(client.api.inspect_container, handle.container_id)
        bound = ((info.get("NetworkSettings") or {}).get("Ports") or {}).get(f"{CDP_PORT}/tcp") or []
        if not bound:
            raise SandboxError(f"the browser container {name!r} published no CDP port")
        port = int(bound[0]["HostPort"])
        deadline = time.monotonic() + settings.start_timeout_seconds
        while not await anyio.to_thread.run_sync(_cdp_answers, port):
            if time.monotonic() > deadline:
                raise SandboxError(f"Chromium in container {name!r} did not answer on CDP within "
                                   f"{settings.start_timeout_seconds:.0f} s")
            await anyio.sleep(0.2)
    except BaseException:
        with anyio.CancelScope(shield=True):
            await handle.aclose()
        raise
    handle.cdp_url = f"http://127.0.0.1:{port}"
    return handle
