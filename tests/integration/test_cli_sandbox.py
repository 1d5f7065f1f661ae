"""`rustyclaw sandbox doctor` against the real engine, and against an address where none answers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml


def run_doctor(tmp_path: Path, base_url: str) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"sandbox": {"docker": {"baseUrl": base_url}}}))
    env = {**os.environ, "RUSTYCLAW_HOME": str(tmp_path)}
    return subprocess.run([sys.executable, "-m", "rustyclaw", "sandbox", "doctor", "--config", str(config)],
                          capture_output=True, text=True, env=env, timeout=120)


def test_doctor_passes_every_check_on_a_working_engine(tmp_path: Path, sandbox_engine_url: str) -> None:
    result = run_doctor(tmp_path, sandbox_engine_url)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 4 and all(line.startswith("ok") for line in lines)
    assert "uid 1000" in result.stdout


def test_doctor_says_what_to_do_when_no_engine_answers(tmp_path: Path) -> None:
    result = run_doctor(tmp_path, f"unix://{tmp_path}/nothing.sock")
    assert result.returncode == 1
    assert result.stdout.startswith("FAIL engine answers") and "start Docker or podman" in result.stdout
