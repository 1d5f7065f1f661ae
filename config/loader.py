"""Finding, reading and validating the configuration file.

Lookup order: the explicit path, `$RUSTYCLAW_HOME/config.yaml` (home defaults to ~/.rustyclaw),
`./config/default.yaml` relative to the working folder, else the built-in defaults.
`$RUSTYCLAW_HOME/secrets.env` is read first into the substitution environment; real environment
variables win over it. Nothing is written to os.environ.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from rustyclaw.config.base import rustyclaw_home
from rustyclaw.config.schema import RustyClawConfig
from rustyclaw.config.substitute import read_env_file, substitute
from rustyclaw.domain.errors import ConfigError

BUILT_IN = "<built-in defaults>"
SUFFIXES = (".yaml", ".yml", ".json", ".json5", ".toml")


@dataclass(frozen=True, slots=True)
class LoadedConfig:
    """A validated configuration and where it came from (`source` is None for the built-in defaults)."""

    config: RustyClawConfig
    source: Path | None
    home: Path

    def secret_values(self) -> tuple[str, ...]:
        """Every secret in the configuration, for the log redaction filter."""
        from rustyclaw.config.render import secret_values

        return secret_values(self.config)


def find_config(path: str | Path | None, home: Path, cwd: Path | None = None) -> Path | None:
    """The file `load_config` would read, or None for the built-in defaults."""
    if path is not None:
        explicit = Path(path).expanduser()
        if not explicit.is_file():
            raise ConfigError(f"configuration file not found: {explicit}")
        return explicit
    for candidate in (home / "config.yaml", (cwd or Path.cwd()) / "config" / "default.yaml"):
        if candidate.is_file():
            return candidate
    return None


def load_config(path: str | Path | None = None, *, env: Mapping[str, str] | None = None) -> LoadedConfig:
    """Find, parse, substitute and validate; any problem raises one ConfigError listing all of them."""
    environ: Mapping[str, str] = os.environ if env is None else env
    home = rustyclaw_home(environ)
    source = find_config(path, home)
    secrets_file = home / "secrets.env"
    variables = {**read_env_file(secrets_file), **environ} if secrets_file.is_file() else dict(environ)
    used: dict[str, str] = {}
    data: Any = {} if source is None else substitute(parse_file(source), variables, str(source), used)
    return LoadedConfig(validate(data, str(source or BUILT_IN), home, used), source, home)


def validate(
    data: Any, source: str, home: Path, substituted: Mapping[str, str] | None = None
) -> RustyClawConfig:
    """Validate parsed data; `source` names the file in error messages.

    `substituted` maps values that came from `${VAR}` (the environment or secrets.env) to their
    variable: an error names the variable instead of printing the value, which may be a secret
    placed under the wrong key.
    """
    try:
        return RustyClawConfig.model_validate(data, context={"home": home})
    except ValidationError as exc:
        from rustyclaw.config.problems import describe  # only on failure: it pulls in difflib

        problems = list(dict.fromkeys(describe(RustyClawConfig, exc, substituted)))
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        lines = "\n".join(f"  - {p}" for p in problems)
        raise ConfigError(f"invalid configuration in {source} ({count}):\n{lines}") from None


def parse_file(path: Path) -> dict[str, Any]:
    """The file's top-level mapping; syntax errors name the file and line."""
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise ConfigError(
            f"{path}: unsupported configuration file type '{suffix}' (use .yaml, .yml, .json, .json5 or .toml)"
        )
    text = read_text(path)
    if suffix == ".json":
        data = _parse_json(path, text)
    elif suffix == ".json5":
        data = parse_json5(path, text)
    elif suffix == ".toml":
        data = _parse_toml(path, text)
    else:
        from rustyclaw.config.yaml_io import parse_yaml

        data = parse_yaml(path, text)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections, got {type(data).__name__}")
    return data


def read_text(path: Path) -> str:
    """A configuration file's text, or one error naming the file and what is wrong with it."""
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text") from exc


def _parse_json(path: Path, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}:{exc.lineno}:{exc.colno}: JSON syntax error: {exc.msg}") from None


def parse_json5(path: Path, text: str) -> Any:
    # JSON5 (comments, trailing commas, unquoted keys): what OpenClaw's openclaw.json is written in.
    import json5

    try:
        return json5.loads(text)
    except ValueError as exc:
        raise ConfigError(f"{path}: JSON5 syntax error: {exc}") from None


def _parse_toml(path: Path, text: str) -> Any:
    import tomllib

    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: TOML syntax error: {exc}") from None
