"""`rustyclaw doctor` as a subprocess: a working setup (llmock as the model) passes; a model that is
not reachable, a taken port and a bad configuration each fail with the fix printed next to them."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import yaml

from tests.e2e.gateway_process import write_config
from tests.fixtures.llm_servers import LLMockServer, free_port


def doctor(config: Path, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RUSTYCLAW_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "rustyclaw", "doctor", "--config", str(config)],
                          capture_output=True, text=True, env=env, timeout=60)


def test_a_working_setup_passes(tmp_path: Path, mock_llm: LLMockServer) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    config = write_config(tmp_path / "c.yaml", home / "state", mock_llm.base_url, "gpt-4o-mini",
                          gateway={"port": free_port()})
    result = doctor(config, home)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "ok   config:" in out and "ok   model: llama/gpt-4o-mini" in out
    assert "ok   storage: sqlite" in out and "ok   port:" in out
    assert "0 failed" in out


def test_problems_fail_with_their_fix(tmp_path: Path, closed_port_url: str) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = write_config(tmp_path / "c.yaml", home / "state", closed_port_url, "m", gateway={"port": port})
        result = doctor(config, home)
    assert result.returncode == 1
    out = result.stdout
    assert "does not answer" in out and "fix: start the server at" in out
    assert f"FAIL port: 127.0.0.1:{port} is taken by another program" in out
    assert "fix: stop it, or set gateway.port" in out


def test_a_bad_configuration_is_one_failure_naming_the_key(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(yaml.safe_dump({"gateway": {"port": "eighty"}}))
    result = doctor(config, tmp_path)
    assert result.returncode == 1
    assert "FAIL config:" in result.stdout and "gateway.port" in result.stdout
    assert "fix: edit the file named above" in result.stdout


def test_channel_tokens_are_checked_and_security_findings_shown(tmp_path: Path, mock_llm: LLMockServer,
                                                                  closed_port_url: str) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    config = write_config(
        tmp_path / "c.yaml", home / "state", mock_llm.base_url, "gpt-4o-mini", gateway={"port": free_port()},
        channels={"telegram": {"enabled": True, "botToken": "123456:ABC-doctor", "dmPolicy": "open",
                               "allowFrom": ["*"], "apiBaseUrl": closed_port_url.removesuffix("/v1")}},
    )
    result = doctor(config, home)
    assert result.returncode == 1
    out = result.stdout
    assert "FAIL telegram:" in out and "does not answer" in out
    # The security findings (rustyclaw/security_checks.py): an open bot on the shared main session.
    assert "FAIL security session.dm_scope_shared: Anyone who messages the bot shares one session" in out
    assert "fix: set sessions.dmScope: per-channel-peer" in out
    assert "123456:ABC-doctor" not in out  # a token is never printed
