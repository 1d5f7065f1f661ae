"""The configuration, read and validated once, as the typed frozen settings every component receives.

    settings = load_settings(args.config)      # file -> validated config -> every check serve runs
    root = bootstrap(settings, "serve")        # rustyclaw/app.py

`Settings.config` is the validated `RustyClawConfig` (pydantic, frozen: nothing changes it after
the load); the domain's plain values (`sessions`, `agents`) are mapped from it once here.
`config validate` calls `load_settings` too, so it refuses exactly what `serve` would refuse.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from rustyclaw.config.loader import LoadedConfig, load_config
from rustyclaw.config.schema import RustyClawConfig
from rustyclaw.domain.settings import AgentSettings, SessionSettings


@dataclass(frozen=True, slots=True)
class Settings:
    """One validated configuration and what is derived from it."""

    config: RustyClawConfig
    source: Path | None
    home: Path
    secrets: tuple[str, ...]
    sessions: SessionSettings
    agents: AgentSettings

    @property
    def state_dir(self) -> Path:
        return Path(self.config.gateway.state_dir).expanduser()


def settings_from(loaded: LoadedConfig) -> Settings:
    """Runs every start-up check on a loaded configuration (ConfigError listing the problems)."""
    from rustyclaw.checks import check_config
    from rustyclaw.settings_map import agent_settings, session_settings

    cfg = loaded.config
    check_config(cfg, str(loaded.source or "<built-in defaults>"))
    return Settings(
        config=cfg, source=loaded.source, home=loaded.home, secrets=loaded.secret_values(),
        sessions=session_settings(cfg), agents=agent_settings(cfg),
    )


def load_settings(path: str | Path | None = None, *, env: Mapping[str, str] | None = None) -> Settings:
    """Finds, reads and validates the configuration (see config/loader.py for the lookup order)."""
    return settings_from(load_config(path, env=env))


def settings_of(cfg: RustyClawConfig) -> Settings:
    """Settings for an already validated config object (tests, embedding), with the same checks."""
    from rustyclaw.config.base import rustyclaw_home

    return settings_from(LoadedConfig(cfg, None, rustyclaw_home()))
