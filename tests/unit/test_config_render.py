"""`render_config` hides every secret; `secret_values` finds them all for the log filter."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rustyclaw.config.loader import load_config
from rustyclaw.config.render import render_config, secret_values
from rustyclaw.config.schema import RustyClawConfig

SECRETS = {
    "gateway-token-1-long-enough-to-pass": "gateway.auth.token",
    "sk-provider-key-2": "llm.providers.vllm.apiKey",
    "Bearer header-3": "llm.providers.vllm.headers.Authorization",
    "123456:telegram-bot-token-4": "channels.telegram.botToken",
    "webhook-secret-5": "channels.telegram.webhookSecret",
    "discord-token-6": "channels.discord.token",
    "wa-access-7": "channels.whatsapp.accessToken",
    "wa-app-secret-8": "channels.whatsapp.appSecret",
    "wa-verify-9": "channels.whatsapp.verifyToken",
    "sandbox-env-10": "sandbox.docker.env.API_KEY",
    "plugin-token-11": "plugins.config.weather.apiToken",
    "pg-password-12": "storage.postgres.dsn (password)",
}


@pytest.fixture
def cfg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> RustyClawConfig:
    monkeypatch.setenv("RUSTYCLAW_HOME", str(tmp_path))
    path = tmp_path / "c.yaml"
    path.write_text(
        """
gateway: {host: 0.0.0.0, auth: {token: gateway-token-1-long-enough-to-pass}}
llm:
  providers:
    vllm:
      baseUrl: "http://gpu:8000/v1"
      apiKey: sk-provider-key-2
      headers: {Authorization: Bearer header-3}
  routes: {default: {primary: vllm/qwen}}
channels:
  telegram: {enabled: true, botToken: "123456:telegram-bot-token-4", webhookSecret: webhook-secret-5}
  discord: {enabled: true, token: discord-token-6}
  whatsapp: {enabled: true, accessToken: wa-access-7, appSecret: wa-app-secret-8, verifyToken: wa-verify-9,
             phoneNumberId: 555}
sandbox: {docker: {env: {API_KEY: sandbox-env-10}}}
plugins: {config: {weather: {apiToken: plugin-token-11, city: Berlin}}}
storage: {postgres: {dsn: "postgresql://bot:pg-password-12@db:5432/claw"}}
""",
        encoding="utf-8",
    )
    return load_config(path).config


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_render_hides_every_secret(cfg: RustyClawConfig, fmt: str) -> None:
    text = render_config(cfg, fmt)  # type: ignore[arg-type]
    for value, where in SECRETS.items():
        assert value not in text, where
    assert "postgresql://bot:***@db:5432/claw" in text
    assert "Berlin" in text and "http://gpu:8000/v1" in text  # non-secrets still shown
    assert "botToken: '***'" in text or '"botToken": "***"' in text


def test_render_uses_file_spelling_and_parses_back(cfg: RustyClawConfig, tmp_path: Path) -> None:
    data = json.loads(render_config(cfg, "json"))
    assert data["channels"]["telegram"]["dmPolicy"] == "pairing"
    assert data["storage"]["json"]["fsync"] == "batch"
    assert data["gateway"]["stateDir"] == str(tmp_path)
    path = tmp_path / "rendered.yaml"
    # A rendered file is a valid config file once the gateway token, which must be at least 24
    # characters, is put back in place of its 3-character placeholder.
    path.write_text(render_config(cfg).replace("token: '***'", "token: " + "t" * 24, 1), encoding="utf-8")
    again = load_config(path).config
    assert again.gateway.port == cfg.gateway.port
    assert again.channels.telegram.bot_token == "***"


def test_render_refuses_unknown_format(cfg: RustyClawConfig) -> None:
    with pytest.raises(ValueError, match="unknown format"):
        render_config(cfg, "xml")  # type: ignore[arg-type]


def test_secret_values_finds_every_secret(cfg: RustyClawConfig) -> None:
    found = set(secret_values(cfg))
    assert found == set(SECRETS)
    assert "Berlin" not in found


def test_defaults_have_no_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUSTYCLAW_HOME", str(tmp_path))
    assert secret_values(RustyClawConfig()) == ()


def test_channel_accounts_show_what_they_state_and_read_back_the_same() -> None:
    from rustyclaw.config.render import to_file_dict

    cfg = RustyClawConfig.model_validate({"channels": {"telegram": {
        "enabled": True, "botToken": "1:default-bot", "dmPolicy": "open", "allowFrom": ["*"],
        "accounts": {"work": {"botToken": "2:work-bot", "pollInterval": 2}}}}})
    shown = to_file_dict(cfg)["channels"]["telegram"]["accounts"]
    assert shown == {"work": {"botToken": "***", "pollInterval": 2.0}}  # no defaults read as "disabled"
    again = RustyClawConfig.model_validate(to_file_dict(cfg, redact=False))
    work = again.channels.telegram.account_sections()["work"]
    assert (work.bot_token, work.poll_interval, work.dm_policy, work.enabled) == ("2:work-bot", 2.0, "open", True)
