"""YAML reading (safe, duplicate keys refused) and writing; PyYAML is imported only here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from rustyclaw.domain.errors import ConfigError

_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _StrictLoader(_Base):  # type: ignore[misc]
    """Safe loader that refuses a key given twice in one mapping (PyYAML keeps the last silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, yaml.Node] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
            except TypeError:
                duplicate = False
            if duplicate:
                first = seen[key].start_mark.line + 1
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"key {key!r} appears twice in one mapping (first on line {first})",
                    key_node.start_mark,
                )
            seen[key] = key_node
        result: dict[Any, Any] = super().construct_mapping(node, deep=deep)
        return result


def parse_yaml(path: Path, text: str) -> Any:
    """Parse YAML text; a syntax error names the file, line and column."""
    try:
        return yaml.load(text, Loader=_StrictLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        detail = " ".join(p for p in (exc.context, exc.problem) if p)
        raise ConfigError(f"{where}: YAML syntax error: {detail}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: YAML error: {exc}") from None


def dump_yaml(data: Any) -> str:
    """Block-style YAML in the given key order."""
    dumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    text: str = yaml.dump(data, Dumper=dumper, sort_keys=False, default_flow_style=False, allow_unicode=True)
    return text
