"""Removing idle sandbox containers in the background (OpenClaw prunes after 24 h idle)."""

from __future__ import annotations

import logging

import anyio

from rustyclaw.domain.errors import SandboxError
from rustyclaw.ports.sandbox import Sandbox

log = logging.getLogger(__name__)


async def prune_idle_forever(sandbox: Sandbox, idle_seconds: float, interval: float = 600.0) -> None:
    """Calls `sandbox.prune(idle_seconds)` every `interval` seconds until cancelled.

    An engine that is down is not an error here: the next round tries again.
    """
    while True:
        await anyio.sleep(interval)
        try:
            removed = await sandbox.prune(idle_seconds)
        except SandboxError as exc:
            log.debug("sandbox prune skipped: %s", exc)
            continue
        if removed:
            log.info("sandbox: removed %d idle container(s)", removed)
