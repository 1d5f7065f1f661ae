"""The session-events bus in `serve` (rustyclaw/serving.py): none without `gateway.replicas` (no
connection, the web chat as before), a PostgreSQL bus started before HTTP with them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rustyclaw.adapters.storage.pg_events import PostgresSessionEvents
from rustyclaw.app import bootstrap
from rustyclaw.config.schema import RustyClawConfig
from rustyclaw.settings import settings_of


def config(tmp_path: Path, **gateway: Any) -> RustyClawConfig:
    return RustyClawConfig.model_validate({
        "gateway": {"stateDir": str(tmp_path), **gateway},
        "llm": {"embedded": {"enabled": False}},
        "storage": {"backend": "postgres", "postgres": {"dsn": "postgresql://u@127.0.0.1:1/none"}},
    })


def test_without_replicas_there_is_no_bus(tmp_path: Path) -> None:
    root = bootstrap(settings_of(config(tmp_path)), "serve")
    assert root.serving is not None and root.serving.events is None
    assert "session-events" not in root.life.names


def test_with_replicas_the_bus_starts_before_http(tmp_path: Path) -> None:
    root = bootstrap(settings_of(config(tmp_path, replicas={"enabled": True})), "serve")
    assert root.serving is not None and isinstance(root.serving.events, PostgresSessionEvents)
    names = root.life.names
    assert names.index("session-events") < names.index("http")
