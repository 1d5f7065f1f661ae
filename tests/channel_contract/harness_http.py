"""Serves an ASGI app on a free loopback port with the gateway's own embedded server (granian)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio

from rustyclaw.adapters.channels.webhook_asgi import ASGIApp
from rustyclaw.adapters.http.server import HttpServer


@asynccontextmanager
async def serving(app: ASGIApp) -> AsyncIterator[str]:
    """Yields the base URL while `app` is served."""
    server = HttpServer(app, "127.0.0.1", 0)
    ready = anyio.Event()
    async with anyio.create_task_group() as tg:
        tg.start_soon(server.serve, ready)
        with anyio.fail_after(10):
            await ready.wait()
        try:
            yield server.url
        finally:
            await server.aclose()
