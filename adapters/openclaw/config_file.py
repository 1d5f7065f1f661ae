"""Reading an `openclaw.json` the way OpenClaw does: JSON5, `$include`, `${VAR}`.

Rules followed (OpenClaw docs, gateway/configuration/common-tasks.md "Split config into multiple
files" and gateway/configuration/environment-variables.md):
- `$include: "file"` replaces the object that holds it; `$include: [a, b]` deep-merges the files
  in order (later wins); sibling keys are merged after the includes and override them; relative
  paths resolve against the including file; at most 10 nested levels.
- `${VAR}` matches upper-case names only (`[A-Z_][A-Z0-9_]*`); `$${VAR}` is a literal `${VAR}`;
  a missing or empty variable stays visibly unresolved (and is reported, not fatal).
- Variables come from the process environment, then `~/.openclaw/.env` (the state folder's
  `.env`), then the config's own `env.vars`; none overrides one set earlier.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rustyclaw.config.loader import parse_json5 as parse_json5_text
from rustyclaw.config.loader import read_text
from rustyclaw.domain.errors import ConfigError

MAX_INCLUDE_DEPTH = 10
_VAR = re.compile(r"\$(\$\{[A-Z_][A-Z0-9_]*\})|\$\{([A-Z_][A-Z0-9_]*)\}")


@dataclass(slots=True)
class OpenClawConfigFile:
    """The resolved configuration and what resolving it found."""

    data: dict[str, Any]
    path: Path
    files: list[Path] = field(default_factory=list)  # openclaw.json and every included file
    # Values that came from `${VAR}`: the final string -> the variable names it used.
    from_variables: dict[str, list[str]] = field(default_factory=dict)
    unresolved: list[str] = field(default_factory=list)  # variable names that were not set


def parse_json5(path: Path) -> Any:
    return parse_json5_text(path, read_text(path))


def _deep_merge(base: Any, over: Any) -> Any:
    if isinstance(base, dict) and isinstance(over, dict):
        merged = dict(base)
        for key, value in over.items():
            merged[key] = _deep_merge(merged[key], value) if key in merged else value
        return merged
    return over


def _resolve_includes(value: Any, here: Path, depth: int, files: list[Path]) -> Any:
    if isinstance(value, list):
        return [_resolve_includes(v, here, depth, files) for v in value]
    if not isinstance(value, dict):
        return value
    result: Any = {}
    if "$include" in value:
        if depth >= MAX_INCLUDE_DEPTH:
            raise ConfigError(f"{here}: $include nested more than {MAX_INCLUDE_DEPTH} levels")
        targets = value["$include"]
        names = [targets] if isinstance(targets, str) else targets
        if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
            raise ConfigError(f"{here}: $include must be a file name or a list of file names")
        for name in names:
            if "\0" in name or len(name) >= 4096:
                raise ConfigError(f"{here}: $include path is not acceptable: {name[:60]!r}")
            target = (here.parent / Path(name).expanduser()).resolve()
            if not target.is_file():
                raise ConfigError(f"{here}: $include {name!r}: {target} does not exist")
            files.append(target)
            included = _resolve_includes(parse_json5(target), target, depth + 1, files)
            result = included if not isinstance(result, dict) or not result else _deep_merge(result, included)
    siblings = {k: _resolve_includes(v, here, depth, files) for k, v in value.items() if k != "$include"}
    if siblings:
        result = _deep_merge(result, siblings) if isinstance(result, dict) else siblings
    return result


def read_dotenv(path: Path) -> dict[str, str]:
    """`.env` lines KEY=VALUE (quotes, comments and `export ` allowed); a missing file is empty."""
    if not path.is_file():
        return {}
    from rustyclaw.config.substitute import read_env_file

    return read_env_file(path)


def _substitute(value: Any, env: Mapping[str, str], out: OpenClawConfigFile) -> Any:
    if isinstance(value, dict):
        return {k: _substitute(v, env, out) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, env, out) for v in value]
    if not isinstance(value, str) or "${" not in value:
        return value
    used: list[str] = []

    def replace(match: re.Match[str]) -> str:
        if match.group(1):
            return match.group(1)  # $${VAR} -> ${VAR}
        name = match.group(2)
        found = env.get(name)
        if not found:
            if name not in out.unresolved:
                out.unresolved.append(name)
            return match.group(0)
        used.append(name)
        return found

    text = _VAR.sub(replace, value)
    if used:
        out.from_variables[text] = used
    return text


def load_openclaw_config(path: Path, environ: Mapping[str, str], state_dir: Path | None = None) -> OpenClawConfigFile:
    """`openclaw.json` with includes merged and variables substituted."""
    files = [path.resolve()]
    raw = parse_json5(path)
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be an object, got {type(raw).__name__}")
    data = _resolve_includes(raw, path.resolve(), 0, files)
    env: dict[str, str] = {}
    inline = data.get("env", {}).get("vars", {}) if isinstance(data.get("env"), dict) else {}
    for source in (
        inline if isinstance(inline, dict) else {},
        read_dotenv((state_dir or path.parent) / ".env"),
        environ,
    ):
        env.update({k: str(v) for k, v in source.items()})
    result = OpenClawConfigFile({}, path, files)
    result.data = _substitute(data, env, result)
    return result
