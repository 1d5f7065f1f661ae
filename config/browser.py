"""The `browser` section: the `browser` tool's Chromium (Playwright drives it; `pip install 'rustyclaw[browser]'`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from rustyclaw.config.base import Section, section
from rustyclaw.config.sandbox import MemorySize


class BrowserSandboxConfig(Section):
    """Chromium in a podman/Docker container, driven over CDP (OpenClaw's `sandbox.browser`)."""

    # Off by default: it needs the container engine of `sandbox` and costs a container start per browser.
    enabled: bool = False
    # The sandbox image with the host's /usr mounted read-only over it (no second Chromium to patch).
    image: str = "rustyclaw-sandbox:latest"
    memory: MemorySize = "1g"
    pids_limit: int = Field(512, ge=1)
    # OpenClaw's name: how long a new container has for its CDP endpoint to answer.
    auto_start_timeout_ms: int = Field(30_000, gt=0)
    # None: $DOCKER_HOST, else RustyClaw's podman socket, else Docker's (as `sandbox.docker.baseUrl`).
    base_url: str | None = None


class BrowserConfig(Section):
    """One browser context per agent (or per session), started on first use and closed when idle."""

    # Off by default: its schema would take a large share of every prompt's tool budget.
    enabled: bool = False
    # None: `chromium` (Debian's) or `chromium-browser` / `google-chrome` on PATH; never downloaded.
    executable_path: str | None = None
    headless: bool = True
    # Chromium's own sandbox needs user namespaces, which containers and root lack; on by default.
    no_sandbox: bool = False
    # `agent`: one context (cookies, tabs) per agent; `session`: one per session.
    scope: Literal["agent", "session"] = "agent"
    # Navigation, redirects and every subresource go through web_fetch's SSRF rules; true lets
    # the browser reach loopback and private addresses (an intranet, a local test page).
    allow_private_network: bool = False
    action_timeout_seconds: float = Field(20.0, gt=0)
    idle_seconds: float = Field(300.0, ge=0)
    snapshot_max_chars: int = Field(20_000, gt=0)
    max_tabs: int = Field(8, gt=0)
    viewport_width: int = Field(1280, gt=0)
    viewport_height: int = Field(800, gt=0)
    # Chromium in a container instead of on the host; its requests still pass the guard above.
    sandbox: BrowserSandboxConfig = section()
    # OpenClaw's `browser.evaluateEnabled`: action 'evaluate' runs model-written JavaScript in the page.
    evaluate_enabled: bool = False
    evaluate_max_chars: int = Field(4_000, gt=0)
