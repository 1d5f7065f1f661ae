"""Runs `rustyclaw serve` as a real subprocess for end-to-end tests."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.fixtures.llm_servers import free_port


def write_config(path: Path, state: Path, base_url: str, model: str, **extra: Any) -> Path:
    config: dict[str, Any] = {
        "gateway": {"stateDir": str(state), "logLevel": "info"},
        "agents": {"workspace": str(state / "workspace")},
        "llm": {
            "providers": {"llama": {"baseUrl": base_url, "timeoutSeconds": 300}},
            "routes": {"default": {"primary": f"llama/{model}"}},
            "embedded": {"enabled": False},
            "contextTokens": 4096,
            "maxTokens": 96,
            # Greedy decoding: the same build answers the same prompt the same way. Forced tool
            # calls are made JSON-safe by the proxy (tests/e2e/tool_forcing_proxy.py), not by this.
            "temperature": 0,
            "retry": {"attempts": 1},
        },
        "storage": {"backend": "sqlite"},
    }
    for section, values in extra.items():
        config.setdefault(section, {}).update(values)
    path.write_text(yaml.safe_dump(config))
    return path


def wait_for(what: str, condition: Callable[[], bool], *logs: GatewayProcess, bound: float = 60.0) -> None:
    """Polls `condition` until true; past `bound` seconds (a hang guard, not an expectation) fails with
    the gateways' logs."""
    deadline = time.monotonic() + bound
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {bound:.0f} s\n" + "\n".join(g.log() for g in logs))
        time.sleep(0.05)


class GatewayProcess:
    def __init__(self, config: Path, home: Path) -> None:
        self.config = config
        self.home = home
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = home / f"serve-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 20.0) -> GatewayProcess:
        env = {**os.environ, "RUSTYCLAW_HOME": str(self.home)}
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "rustyclaw", "serve", "--config", str(self.config),
                 "--port", str(self.port)],
                stdout=log, stderr=subprocess.STDOUT, env=env,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"rustyclaw serve exited early:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=0.5).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"rustyclaw serve was not ready in {timeout}s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def stop(self) -> int:
        assert self.process is not None
        self.process.terminate()
        try:
            return self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "RUSTYCLAW_HOME": str(self.home)}
        return subprocess.run(
            [sys.executable, "-m", "rustyclaw", *args, "--config", str(self.config)],
            capture_output=True, text=True, env=env, timeout=60,
        )
