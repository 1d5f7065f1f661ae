"""`gateway.replicas`: only on PostgreSQL storage; the error names the file and the key path."""

from __future__ import annotations

from pathlib import Path

import pytest

from rustyclaw.config.loader import load_config
from rustyclaw.domain.errors import ConfigError


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("RUSTYCLAW_HOME", str(home))
    monkeypatch.chdir(tmp_path)
    return home


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("backend", ["sqlite", "json", None])
def test_replicas_on_a_store_other_than_postgres_is_refused(home: Path, tmp_path: Path, backend: str | None) -> None:
    storage = f"storage: {{backend: {backend}}}\n" if backend else ""  # None: the default, sqlite
    path = write(tmp_path / "replicas.yaml", "gateway:\n  replicas: {enabled: true}\n" + storage)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert str(path) in message
    got = backend or "sqlite"
    assert f"gateway.replicas.enabled: replicas need storage.backend: postgres (got '{got}')" in message


def test_replicas_on_postgres_and_its_defaults(home: Path, tmp_path: Path) -> None:
    path = write(tmp_path / "ok.yaml", (
        "gateway:\n  replicas: {enabled: true, leaseSeconds: 9}\n"
        "storage:\n  backend: postgres\n  postgres: {dsn: 'postgresql://u@127.0.0.1/db'}\n"
    ))
    replicas = load_config(path).config.gateway.replicas
    assert (replicas.enabled, replicas.lease_seconds, replicas.lease_name) == (True, 9.0, "gateway")
    off = load_config(write(tmp_path / "off.yaml", "gateway: {port: 1}\n")).config.gateway.replicas
    assert (off.enabled, off.lease_seconds) == (False, 6.0)


def test_a_lease_shorter_than_a_second_is_refused(home: Path, tmp_path: Path) -> None:
    path = write(tmp_path / "short.yaml", "gateway:\n  replicas: {leaseSeconds: 0.1}\n")
    with pytest.raises(ConfigError, match=r"gateway\.replicas\.leaseSeconds"):
        load_config(path)
