"""`rustyclaw serve`."""

from __future__ import annotations

import anyio

from rustyclaw import import_guards
from rustyclaw.logs import setup_logging
from rustyclaw.settings import load_settings


def run_serve(config_path: str | None, host: str | None, port: int | None) -> int:
    # Before anything imports httpx or granian: their first imports then skip httpx's CLI, trio, uvloop and
    # watchfiles, which the gateway never runs (10 MB for httpx, 1.9 for granian; see the module).
    import_guards.install()
    settings = load_settings(config_path)
    gateway = settings.config.gateway
    setup_logging(gateway.log_level, gateway.log_format, settings.secrets)
    from rustyclaw.app import bootstrap

    root = bootstrap(settings, "serve", host=host, port=port)

    async def serve() -> None:
        async with root:
            await root.run_until_stopped()

    anyio.run(serve)
    return 0
