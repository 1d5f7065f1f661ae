"""Writes docs/reference/config.md from the configuration schema (config/schema.py), so the reference
can never disagree with what the loader accepts: every section, every key (as written in the
file, camelCase), its type, its default and the schema's own description (docstrings, comments are
not read). Run by scripts/build-docs.sh before every docs build.

    python scripts/gen-config-reference.py [--check] [--out PATH]   # --check: exit 1 when stale
"""

from __future__ import annotations

import enum
import re
import sys
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo

from rustyclaw.config.schema import RustyClawConfig

_SECRET = re.compile(r"(?i)(token|secret|password|apikey|dsn)")
OUT = Path(__file__).resolve().parent.parent / "docs" / "reference" / "config.md"

HEADER = """# Configuration reference

Generated from the schema by `scripts/gen-config-reference.py`; do not edit by hand.
Keys are written as in the file (camelCase). Every key has a default, so an empty file is a
working setup; [`config/default.yaml`](https://github.com/rustyclaw/rustyclaw/blob/main/config/default.yaml)
is a commented example. `${VAR}` and `${VAR:-default}` are substituted from the environment and
`~/.rustyclaw/secrets.env`; secrets are never printed (`rustyclaw config show` shows `***`).
"""


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _type_name(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        names = [_type_name(a) for a in typing.get_args(annotation) if a is not type(None)]
        return " or ".join(dict.fromkeys(names))
    if origin is typing.Literal:
        return ", ".join(f"`{a}`" if isinstance(a, str) else str(a) for a in typing.get_args(annotation))
    if origin in (list, tuple, set, frozenset):
        inner = ", ".join(_type_name(a) for a in typing.get_args(annotation) if a is not Ellipsis)
        return f"list of {inner}" if inner else "list"
    if origin is dict:
        key, value = typing.get_args(annotation) or (str, Any)
        return f"map of {_type_name(key)} to {_type_name(value)}"
    if annotation is type(None):
        return "null"
    if isinstance(annotation, type):
        if issubclass(annotation, BaseModel):
            return annotation.__name__
        if issubclass(annotation, SecretStr) or "Secret" in annotation.__name__:
            return "secret"
        if issubclass(annotation, enum.Enum):
            return ", ".join(f"`{m.value}`" for m in annotation)
        if issubclass(annotation, Path):
            return "path"
        return {"str": "text", "int": "integer", "float": "number", "bool": "boolean"}.get(
            annotation.__name__, annotation.__name__)
    return str(annotation).replace("typing.", "")


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "required"
    if _models_in(field.annotation) and typing.get_origin(field.annotation) is None:
        return "(section below)"
    if field.default_factory is not None:
        try:
            value = field.default_factory()  # type: ignore[call-arg]
        except TypeError:
            return "(computed)"
    else:
        value = field.default
    if isinstance(value, BaseModel):
        return "(section)"
    if isinstance(value, SecretStr) or "secret" in type(value).__name__.lower():
        return "unset" if not value else "`***`"
    if value is None:
        return "unset"
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, Path):
        value = str(value)
    text = repr(value) if not isinstance(value, str) else value
    if isinstance(value, bool):
        text = "true" if value else "false"
    return f"`{text}`" if text != "" else '`""`'


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in typing.get_args(annotation):
        found.extend(_models_in(arg))
    return found


DEFAULT_YAML = OUT.parents[2] / "config" / "default.yaml"
_LINE = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z][A-Za-z0-9_]*):(?P<value>[^#]*)(?:#\s*(?P<note>.*))?$")


def yaml_notes(path: Path = DEFAULT_YAML) -> dict[str, str]:
    """The comment at the end of each key's line in config/default.yaml, by dotted key path: the
    commented example is where the settings are explained in words, so the reference shows them."""
    notes: dict[str, str] = {}
    stack: list[tuple[int, str]] = []
    for line in path.read_text().splitlines():
        found = _LINE.match(line)
        if found is None:
            continue
        indent = len(found["indent"])
        while stack and stack[-1][0] >= indent:
            stack.pop()
        stack.append((indent, found["key"]))
        if found["note"]:
            notes[".".join(key for _, key in stack)] = found["note"].strip()
    return notes


def _note(notes: dict[str, str], path: str, key: str) -> str:
    wanted = re.compile(re.escape(f"{path}.{key}").replace(re.escape(".<name>"), r"\.[^.]+")
                        .replace(re.escape("[]"), ""))
    found = next((text for where, text in notes.items() if wanted.fullmatch(where)), "")
    return found.replace("|", "\\|")


def _doc(model: type[BaseModel]) -> str:
    return " ".join((model.__doc__ or "").split())


def render() -> str:
    lines = [HEADER]
    seen: set[type[BaseModel]] = set()
    notes = yaml_notes() if DEFAULT_YAML.exists() else {}

    def section(model: type[BaseModel], path: str, depth: int) -> None:
        seen.add(model)
        lines.append(f"\n{'#' * min(depth, 6)} `{path}`\n")
        if _doc(model):
            lines.append(_doc(model) + "\n")
        nested: list[tuple[str, type[BaseModel], bool]] = []
        rows = []
        for name, field in model.model_fields.items():
            key = field.alias or name
            described = field.description or _note(notes, path, key)
            kind = _type_name(field.annotation)
            if _SECRET.search(key) and kind.startswith("text"):
                kind = "secret (text)"
            rows.append(f"| `{key}` | {kind} | {_default(field)} | {described} |")
            for sub in _models_in(field.annotation):
                origin = typing.get_origin(field.annotation)
                suffix = "[]" if origin in (list, tuple) else ".<name>" if origin is dict else ""
                nested.append((f"{path}.{key}{suffix}", sub, bool(suffix)))
        lines.append("| key | type | default | notes |\n|---|---|---|---|")
        lines.extend(rows)
        for sub_path, sub, _ in nested:
            if sub not in seen:
                section(sub, sub_path, depth + 1)

    for name, field in RustyClawConfig.model_fields.items():
        for model in _models_in(field.annotation):
            section(model, field.alias or name, 2)
    return "\n".join(lines) + "\n"


def main() -> int:
    global OUT
    args = sys.argv[1:]
    if "--out" in args:
        OUT = Path(args[args.index("--out") + 1]).resolve()
    text = render()
    if "--check" in args:
        if not OUT.exists() or OUT.read_text() != text:
            print(f"{OUT} is stale: run python scripts/gen-config-reference.py", file=sys.stderr)
            return 1
        return 0
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text)
    print(f"wrote {OUT} ({text.count(chr(10))} lines)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
