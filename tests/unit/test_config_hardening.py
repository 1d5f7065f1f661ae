"""Configuration edges an attacker or a slip could use: weak gateway tokens, YAML alias bombs, and
secrets from ${VAR} or secrets.env echoed by a validation error. Real files through load_config."""

from __future__ import annotations

from pathlib import Path

import pytest

from rustyclaw.adapters.http.server import check_bind_allowed
from rustyclaw.config.loader import load_config
from rustyclaw.config.schema import MIN_TOKEN_CHARS
from rustyclaw.domain.errors import ConfigError

SECRET = "sk-live-4f9c2e7a1b8d6e3f0a5c"


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


def error_of(path: Path, env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path, env=env)
    return str(info.value)


@pytest.mark.parametrize("token", ["'   '", "'\t'", "' padded-token-that-is-long-enough '"])
def test_a_blank_or_padded_token_is_refused(home: Path, tmp_path: Path, token: str) -> None:
    message = error_of(write(tmp_path / "c.yaml", f"gateway: {{host: 0.0.0.0, auth: {{token: {token}}}}}\n"))
    assert "gateway.auth.token: must not be blank or start or end with whitespace" in message
    assert "padded-token" not in message  # never echoed


def test_a_short_token_is_refused_without_echoing_it(home: Path, tmp_path: Path) -> None:
    short = "x" * (MIN_TOKEN_CHARS - 1)
    message = error_of(write(tmp_path / "c.yaml", f"gateway: {{auth: {{token: {short}}}}}\n"))
    assert f"gateway.auth.token: is {MIN_TOKEN_CHARS - 1} characters; use at least {MIN_TOKEN_CHARS}" in message
    assert short not in message
    ok = "y" * MIN_TOKEN_CHARS
    cfg = load_config(write(tmp_path / "ok.yaml", f"gateway: {{host: 0.0.0.0, auth: {{token: {ok}}}}}\n")).config
    assert cfg.gateway.auth.token == ok


def test_an_empty_token_from_an_unset_variable_means_no_token(home: Path, tmp_path: Path) -> None:
    path = write(tmp_path / "c.yaml", "gateway: {auth: {token: '${RUSTYCLAW_TOKEN:-}'}}\n")
    assert load_config(path, env={"RUSTYCLAW_HOME": str(home)}).config.gateway.auth.token is None
    public = write(tmp_path / "p.yaml", "gateway: {host: 0.0.0.0, auth: {token: '${RUSTYCLAW_TOKEN:-}'}}\n")
    assert "needs gateway.auth.token" in error_of(public, {"RUSTYCLAW_HOME": str(home)})


@pytest.mark.parametrize("token", ["   ", "\t", ""])
def test_the_server_treats_a_blank_token_as_none_for_its_bind_rule(token: str) -> None:
    with pytest.raises(ConfigError, match="no token is set"):
        check_bind_allowed("0.0.0.0", token)


def test_a_yaml_alias_bomb_is_refused_with_a_clear_error(home: Path, tmp_path: Path) -> None:
    lines = ["a: &a ['lol', 'lol', 'lol', 'lol', 'lol', 'lol', 'lol', 'lol', 'lol']"]
    previous = "a"
    for name in "bcdefghi":  # 9**9 = 387 million leaves once expanded
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{previous}"] * 9) + "]")
        previous = name
    message = error_of(write(tmp_path / "bomb.yaml", "\n".join(lines) + "\n"))
    assert "bomb.yaml:" in message and "aliases expand to more than" in message


def test_ordinary_aliases_still_work(home: Path, tmp_path: Path) -> None:
    anchored = write(tmp_path / "a.yaml", "llm:\n  routes:\n    default: &r {primary: ollama/llama3.2}\n"
                                          "    chat: *r\n")
    assert load_config(anchored).config.llm.routes["chat"].primary == "ollama/llama3.2"


def test_a_secret_from_the_environment_is_never_printed_by_a_validation_error(home: Path, tmp_path: Path) -> None:
    # The user put the secret under a key that is not secret (a typo'd port, a plain string field).
    path = write(tmp_path / "c.yaml", "gateway: {port: '${API_KEY}', timezone: '${API_KEY}'}\n")
    message = error_of(path, {"RUSTYCLAW_HOME": str(home), "API_KEY": SECRET})
    assert SECRET not in message and SECRET[:12] not in message
    assert "gateway.port: got '${API_KEY}'" in message


def test_a_secret_from_secrets_env_is_never_printed_even_inside_a_long_value(home: Path, tmp_path: Path) -> None:
    (home / "secrets.env").write_text(f"TG_TOKEN={SECRET}\n", encoding="utf-8")
    # A long value is cut to 80 characters in messages: no prefix of the secret may survive the cut.
    path = write(tmp_path / "c.yaml", "gateway: {port: {" + ", ".join(f"k{i}: v{i}" for i in range(8))
                 + ", t: '${TG_TOKEN}'}}\n")
    message = error_of(path, {"RUSTYCLAW_HOME": str(home)})
    assert "gateway.port: got " in message
    assert SECRET[:8] not in message
