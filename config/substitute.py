"""`secrets.env` reading and `${VAR}` / `${VAR:-default}` substitution in parsed configuration values.

Substitution runs on the parsed tree, string values only, so a variable's content can never change
the file's structure (no YAML injection). `$${` writes a literal `${`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rustyclaw.domain.errors import ConfigError

_VAR = re.compile(r"\$(\$\{)|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_ENV_LINE = re.compile(r"^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$")


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines; `#` comments, blank lines, `export ` prefixes and single or double quotes allowed."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read secrets file: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: secrets file is not UTF-8 text") from exc
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _ENV_LINE.match(line)
        if not match:
            raise ConfigError(f"{path}:{number}: expected KEY=VALUE, got {line.split('=', 1)[0][:40]!r}")
        key, value = match.group(1), match.group(2).strip()
        if value[:1] in ("'", '"'):
            end = value.find(value[0], 1)
            if end < 0:
                raise ConfigError(f"{path}:{number}: {key}: the quote is not closed")
            value = value[1:end]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        values[key] = value
    return values


def _path_text(path: tuple[str | int, ...]) -> str:
    return ".".join(str(p) for p in path) or "<top level>"


def substitute(
    data: Any, env: Mapping[str, str], source: str, used: dict[str, str] | None = None
) -> Any:
    """A copy of `data` with variables replaced in every string value; every missing one in one error.

    `used`, when given, collects each substituted value with the variable it came from, so that
    error messages can name `${VAR}` instead of printing what may be a secret.
    """
    missing: list[str] = []

    def replace_in(text: str, path: tuple[str | int, ...]) -> str:
        def one(match: re.Match[str]) -> str:
            if match.group(1):
                return "${"
            name, default = match.group(2), match.group(3)
            value = env.get(name)
            if value:
                if used is not None:
                    used[value] = name
                return value
            if default is not None:
                return default
            if value is not None:  # set but empty, and no default: empty is what was asked for
                return value
            missing.append(
                f"{_path_text(path)}: environment variable '{name}' is not set "
                f"(set it in the environment or secrets.env, or write ${{{name}:-default}})"
            )
            return ""

        return _VAR.sub(one, text) if "$" in text else text

    def walk(node: Any, path: tuple[str | int, ...]) -> Any:
        if isinstance(node, str):
            return replace_in(node, path)
        if isinstance(node, dict):
            return {k: walk(v, (*path, k)) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v, (*path, i)) for i, v in enumerate(node)]
        return node

    result = walk(data, ())
    if missing:
        lines = "\n".join(f"  - {m}" for m in missing)
        raise ConfigError(f"invalid configuration in {source}:\n{lines}")
    return result
