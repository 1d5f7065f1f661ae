"""`rustyclaw onboard` typed into a real terminal (tmux), against llmock as the local model server.

A person's first run: pick "another server", give llmock's URL, pick a model, give a Telegram
token (not echoed), skip Discord, open the chat to the network (a gateway token is made), see the
model's first answer, chat once, leave with Ctrl-D. Then the files are checked: config.yaml holds
no secret, secrets.env (mode 600) holds them, and the configuration loads as serve would load it.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from rustyclaw.config.loader import load_config
from tests.fixtures.llm_servers import LLMockServer

TELEGRAM_TOKEN = "123456:ABC-onboard-secret"
WAIT = 60.0


class Terminal:
    """One tmux session running a command; `wait_for` polls the screen until a pattern shows."""

    def __init__(self, command: str, env: dict[str, str]) -> None:
        self.name = "rc-onboard-" + uuid.uuid4().hex[:8]
        exports = " ".join(f"{k}={_quote(v)}" for k, v in env.items())
        script = f"env {exports} {command}; echo EXIT=$?; read _"
        subprocess.run(["tmux", "new-session", "-d", "-s", self.name, "-x", "160", "-y", "60", script],
                       check=True)

    def screen(self) -> str:
        return subprocess.run(["tmux", "capture-pane", "-p", "-S", "-400", "-t", self.name],
                              capture_output=True, text=True, check=True).stdout

    def wait_for(self, pattern: str) -> re.Match[str]:
        deadline = time.monotonic() + WAIT
        while True:
            found = re.search(pattern, self.screen(), re.M)
            if found is not None:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"{pattern!r} did not appear; the screen:\n{self.screen()}")
            time.sleep(0.1)  # polling the screen: the condition is checked, this only paces it

    def type(self, text: str, enter: bool = True) -> None:
        subprocess.run(["tmux", "send-keys", "-t", self.name, "-l", text], check=True)
        if enter:
            subprocess.run(["tmux", "send-keys", "-t", self.name, "Enter"], check=True)

    def key(self, name: str) -> None:
        subprocess.run(["tmux", "send-keys", "-t", self.name, name], check=True)

    def close(self) -> None:
        subprocess.run(["tmux", "kill-session", "-t", self.name], capture_output=True)


def _quote(value: str) -> str:
    return "'" + value.replace("'", "'\\''") + "'"


@pytest.fixture
def terminal_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    if shutil.which("tmux") is None:
        raise RuntimeError("tmux is needed for this test (apt-get install tmux)")
    yield {"RUSTYCLAW_HOME": str(tmp_path / "home"), "PATH": os.environ["PATH"],
           "PYTHONPATH": os.environ.get("PYTHONPATH", ""), "HOME": str(tmp_path), "TERM": "xterm"}


def test_onboard_in_a_terminal_ends_in_a_working_chat(
    terminal_env: dict[str, str], mock_llm: LLMockServer, tmp_path: Path
) -> None:
    home = Path(terminal_env["RUSTYCLAW_HOME"])
    term = Terminal(f"{sys.executable} -m rustyclaw onboard", terminal_env)
    try:
        term.wait_for(r"Which model server\?")
        other = term.wait_for(r"^\s*(\d+)\) another server").group(1)
        term.type(other)
        term.wait_for(r"base URL")
        term.type(mock_llm.base_url)
        term.wait_for(r"Which model\?")
        gpt4o_mini = term.wait_for(r"^\s*(\d+)\) gpt-4o-mini$").group(1)
        term.type(gpt4o_mini)
        term.wait_for(r"Telegram bot token")
        # Queued only now: llmock answers its scripted replies to GET /models (the probes) too.
        mock_llm.reply("Hello from the mock model.").reply("Chat works here too.")
        term.type(TELEGRAM_TOKEN)
        term.wait_for(r"Discord bot token")
        assert TELEGRAM_TOKEN not in term.screen(), "a token must not be echoed"
        term.type("")
        term.wait_for(r"other devices on your network")
        term.type("y")
        term.wait_for(r"The model says: Hello from the mock model\.")
        term.wait_for(r"Chat here now\?")
        term.type("")
        term.wait_for(r"^you>")
        term.type("Does chatting work?")
        term.wait_for(r"assistant> Chat works here too\.")
        term.key("C-d")
        term.wait_for(r"EXIT=0")
        screen = term.screen()
    finally:
        term.close()

    config_text = (home / "config.yaml").read_text()
    config = yaml.safe_load(config_text)
    assert config["llm"]["providers"]["local"]["baseUrl"] == mock_llm.base_url
    assert config["llm"]["routes"]["default"]["primary"] == "local/gpt-4o-mini"
    assert config["gateway"]["host"] == "0.0.0.0"
    assert config["gateway"]["auth"]["token"] == "${RUSTYCLAW_TOKEN}"
    assert config["channels"]["telegram"]["botToken"] == "${TELEGRAM_BOT_TOKEN}"
    assert "discord" not in config["channels"]
    assert config["sessions"]["dmScope"] == "per-channel-peer"  # a bot others can reach: one session each
    assert TELEGRAM_TOKEN not in config_text
    secrets_file = home / "secrets.env"
    assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600
    lines = dict(line.split("=", 1) for line in secrets_file.read_text().splitlines() if "=" in line)
    assert lines["TELEGRAM_BOT_TOKEN"] == TELEGRAM_TOKEN
    assert re.fullmatch(r"[0-9a-f]{48}", lines["RUSTYCLAW_TOKEN"])
    assert lines["RUSTYCLAW_TOKEN"] in screen  # shown once, so the person can open the page
    loaded = load_config(home / "config.yaml", env={"RUSTYCLAW_HOME": str(home)}).config
    assert loaded.channels.telegram.enabled
    sent = [r["body"] for r in mock_llm.requests() if r.get("body")]
    assert [b["model"] for b in sent] == ["gpt-4o-mini", "gpt-4o-mini"]
    assert sent[-1]["messages"][-1]["content"] == "Does chatting work?"
