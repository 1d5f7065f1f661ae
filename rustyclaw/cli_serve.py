"""`rustyclaw serve`."""

from __future__ import annotations

import anyio

from rustyclaw.config.loader import load_config
from rustyclaw.logs import setup_logging


def run_serve(config_path: str | None, host: str | None, port: int | None) -> int:
    loaded = load_config(config_path)
    cfg = loaded.config
    setup_logging(cfg.gateway.log_level, cfg.gateway.log_format, loaded.secret_values())
    from rustyclaw.app import Application

    app = Application(cfg, host=host, port=port)
    anyio.run(app.run)
    return 0
