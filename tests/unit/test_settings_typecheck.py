"""The wiring is typed end to end: a misspelt settings attribute is a mypy error, not a runtime None."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

WIRING = '''\
from __future__ import annotations

from rustyclaw.app import bootstrap
from rustyclaw.config.channels import TelegramConfig
from rustyclaw.settings import Settings


def good(settings: Settings, telegram: TelegramConfig) -> tuple[int, float, bool]:
    root = bootstrap(settings, "serve")
    intent = settings.config.channels.discord.message_content_intent
    return root.settings.config.gateway.port, telegram.poll_interval, intent


def misspelt_port(settings: Settings) -> int:
    return settings.config.gateway.prot


def misspelt_channel_key(telegram: TelegramConfig) -> float:
    return telegram.pollInterval
'''


@pytest.mark.slow
def test_a_misspelt_settings_attribute_in_the_wiring_is_a_mypy_error(tmp_path: Path) -> None:
    snippet = tmp_path / "wiring_snippet.py"
    snippet.write_text(WIRING)
    out = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"), "--follow-imports=silent",
         "--cache-dir", str(tmp_path / "cache"), str(snippet)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    errors = [line.split(":", 1)[1] for line in out.stdout.splitlines() if "[attr-defined]" in line]
    assert len(errors) == 2, out.stdout + out.stderr
    assert errors[0].startswith("15:") and '"GatewayConfig" has no attribute "prot"' in errors[0]
    assert errors[1].startswith("19:") and '"TelegramConfig" has no attribute "pollInterval"' in errors[1]
    # The correct spellings (lines 8-11), bootstrap included, type-check clean.
    assert not [line for line in out.stdout.splitlines() if any(f":{n}:" in line for n in (9, 10, 11))], out.stdout
