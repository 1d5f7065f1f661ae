"""`gateway.replicas` needs `delivery.journal`: its PostgreSQL rows are the shared duplicate filter."""

from __future__ import annotations

from pathlib import Path

import pytest

from rustyclaw.config.loader import load_config
from rustyclaw.domain.errors import ConfigError

POSTGRES = "storage:\n  backend: postgres\n  postgres: {dsn: 'postgresql://u@127.0.0.1/db'}\n"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("RUSTYCLAW_HOME", str(home))
    monkeypatch.chdir(tmp_path)
    return home


def test_replicas_without_the_journal_are_refused(home: Path, tmp_path: Path) -> None:
    path = tmp_path / "replicas.yaml"
    path.write_text("gateway:\n  replicas: {enabled: true}\ndelivery: {journal: false}\n" + POSTGRES)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert "delivery.journal: replicas need the inbound journal" in str(info.value)


def test_one_gateway_may_still_turn_the_journal_off(home: Path, tmp_path: Path) -> None:
    path = tmp_path / "single.yaml"
    path.write_text("delivery: {journal: false}\n" + POSTGRES)
    assert load_config(path).config.delivery.journal is False
