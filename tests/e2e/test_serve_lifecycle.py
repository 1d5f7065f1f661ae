"""One lifecycle, one instance, one validation, health that tells the truth: real `rustyclaw` processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.gateway_process import GatewayProcess, write_config
from tests.fixtures.llm_servers import LLMockServer, free_port

# No model needs to answer here: /readyz is 200 as soon as HTTP serves, and reports the model's state.
NOWHERE = f"http://127.0.0.1:{free_port()}/v1"


def cli(home: Path, *args: str, stdin: str = "", timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RUSTYCLAW_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "rustyclaw", *args], input=stdin, capture_output=True,
                          text=True, env=env, timeout=timeout)


def config(tmp_path: Path, name: str = "config.yaml", state: str = "state", **extra: Any) -> Path:
    return write_config(tmp_path / name, tmp_path / state, NOWHERE, "m", **extra)


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[GatewayProcess]:
    process = GatewayProcess(config(tmp_path), tmp_path).start()
    try:
        yield process
    finally:
        process.stop()


def refused(done: subprocess.CompletedProcess[str]) -> str:
    """A refusal is one line naming the cause, status 2; never a traceback."""
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and done.stderr.startswith("rustyclaw: "), done.stderr
    return done.stderr


def still_answers(gateway: GatewayProcess) -> None:
    assert gateway.process is not None and gateway.process.poll() is None
    assert httpx.get(f"{gateway.url}/readyz", timeout=5).status_code == 200
    assert httpx.get(f"{gateway.url}/healthz", timeout=5).json() == {"status": "ok"}


def test_a_second_serve_on_the_same_state_folder_exits_and_the_first_keeps_answering(
    gateway: GatewayProcess, tmp_path: Path
) -> None:
    second = refused(cli(tmp_path, "serve", "--config", str(gateway.config), "--port", str(free_port())))
    assert "another rustyclaw gateway" in second and "state folder" in second
    assert gateway.process is not None and f"pid {gateway.process.pid}" in second
    still_answers(gateway)


def test_a_second_serve_on_the_same_port_exits_and_the_first_keeps_answering(
    gateway: GatewayProcess, tmp_path: Path
) -> None:
    other = config(tmp_path, "other.yaml", state="other-state")  # its own state folder: only the port clashes
    second = refused(cli(tmp_path, "serve", "--config", str(other), "--port", str(gateway.port)))
    assert f"http did not start: cannot listen on 127.0.0.1:{gateway.port}" in second
    still_answers(gateway)
    # The first one serves every connection: nobody else took half of them.
    for _ in range(20):
        assert httpx.get(f"{gateway.url}/readyz", timeout=5).status_code == 200


def test_chat_exits_at_once_naming_the_cause_after_a_start_up_error(tmp_path: Path) -> None:
    # The SQLite store has started (its thread would keep Python alive) when the cron state fails.
    path = config(tmp_path)
    (tmp_path / "state" / "cron" / "jobs.json").mkdir(parents=True)
    done = refused(cli(tmp_path, "chat", "--config", str(path), stdin="hello\n", timeout=60))
    assert "plugins did not start" in done and "jobs.json" in done


def test_config_validate_refuses_a_cron_minute_of_99_as_serve_does(tmp_path: Path) -> None:
    job = {"id": "nightly", "schedule": {"cron": "99 3 * * *"}, "message": "report"}
    path = config(tmp_path, cron={"jobs": [job]})
    checked = refused(cli(tmp_path, "config", "validate", "--config", str(path)))
    assert "cron.jobs.0.schedule" in checked and "nightly" in checked
    served = refused(cli(tmp_path, "serve", "--config", str(path), "--port", str(free_port())))
    assert "cron.jobs.0.schedule" in served


def test_config_validate_checks_agents_workspaces_and_channel_settings(tmp_path: Path) -> None:
    path = config(
        tmp_path,
        agents={"list": [{"id": "ops", "workspace": str(tmp_path / "missing")}]},
        cron={"jobs": [{"id": "j", "schedule": {"every": "1h"}, "message": "x", "agent": "nobody"}]},
        channels={"telegram": {"enabled": True, "botToken": "1:x", "mode": "webhook",
                               "webhookUrl": "https://bot.example/hook"}},
    )
    checked = refused(cli(tmp_path, "config", "validate", "--config", str(path)))
    assert "agents.list.0.workspace" in checked and "does not exist" in checked
    assert "cron.jobs.0.agent" in checked and "'nobody'" in checked
    assert "channels.telegram" in checked and "webhookSecret" in checked


def test_readyz_and_status_name_each_channel_and_the_model(tmp_path: Path) -> None:
    closed = f"http://127.0.0.1:{free_port()}"  # Telegram's API does not answer: the channel is down
    path = config(tmp_path, channels={
        "telegram": {"enabled": True, "botToken": "123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11",
                     "apiBaseUrl": closed, "dmPolicy": "allowlist"},
    })
    gateway = GatewayProcess(path, tmp_path).start()
    try:
        body: dict[str, Any] = {}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # until the channel's first start attempt has failed
            response = httpx.get(f"{gateway.url}/readyz", timeout=5)
            assert response.status_code == 200  # HTTP serves: ready, whatever the channels do
            body = response.json()
            if body["channels"]["telegram"]["state"] == "down":
                break
            time.sleep(0.1)
        assert body["status"] == "ready"
        assert body["channels"]["telegram"]["state"] == "down" and body["channels"]["telegram"]["error"]
        assert "123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11" not in response.text  # the bot token never shows
        assert body["channels"]["discord"] == {"state": "disabled"}
        assert body["model"]["state"] == "unreachable" and body["model"]["provider"] == "llama"
        status = cli(tmp_path, "status", "--config", str(path), "--url", gateway.url)
        assert status.returncode == 0, status.stderr
        assert "channel  telegram: down" in status.stdout and "model    unreachable" in status.stdout
        as_json = cli(tmp_path, "status", "--config", str(path), "--url", gateway.url, "--json")
        assert json.loads(as_json.stdout)["channels"]["telegram"]["state"] == "down"
    finally:
        gateway.stop()


def test_chat_and_sessions_run_through_the_same_root(tmp_path: Path, mock_llm: LLMockServer) -> None:
    mock_llm.reply("Hello from the model.")
    path = write_config(tmp_path / "config.yaml", tmp_path / "state", mock_llm.base_url, "m")
    chatted = cli(tmp_path, "chat", "--config", str(path), stdin="hi there\n")
    assert chatted.returncode == 0, chatted.stderr
    assert "Hello from the model." in chatted.stdout
    listed = cli(tmp_path, "sessions", "list", "--config", str(path))
    assert listed.returncode == 0 and "agent:main:main" in listed.stdout
    shown = cli(tmp_path, "sessions", "show", "agent:main:main", "--config", str(path))
    assert "user: hi there" in shown.stdout and "assistant: Hello from the model." in shown.stdout


def test_status_without_a_running_gateway_says_so(tmp_path: Path) -> None:
    path = config(tmp_path)
    done = cli(tmp_path, "status", "--config", str(path), "--url", f"http://127.0.0.1:{free_port()}")
    assert done.returncode == 1 and "no gateway answers at http://127.0.0.1:" in done.stderr
