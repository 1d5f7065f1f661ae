"""YAML reading (safe, duplicate keys refused) and writing; PyYAML is imported only here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from rustyclaw.domain.errors import ConfigError

_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


# Nodes the document would have with every alias expanded. A real configuration has a few hundred;
# a "billion laughs" file (aliases of aliases) has billions and would make validation spin for minutes.
MAX_EXPANDED_NODES = 100_000


class AliasBombError(Exception):
    def __init__(self, line: int) -> None:
        super().__init__(line)
        self.line = line


def _expanded_size(root: yaml.Node) -> int:
    """The node count with aliases expanded, computed on the shared graph (each node once)."""
    sizes: dict[int, int] = {}
    visiting: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in sizes or (not children_done and id(node) in visiting):
            continue
        if isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        else:
            sizes[id(node)] = 1
            continue
        if children_done:
            total = 1 + sum(sizes.get(id(c), 0) for c in children)
            sizes[id(node)] = total
            if total > MAX_EXPANDED_NODES:
                raise AliasBombError(node.start_mark.line + 1)
            continue
        visiting.add(id(node))
        stack.append((node, True))
        # A node already on the path (a recursive alias) counts as a leaf here; the constructor
        # builds such a structure as a cycle, which validation then refuses.
        stack.extend((c, False) for c in children if id(c) not in sizes)
    return sizes[id(root)]


class _StrictLoader(_Base):  # type: ignore[misc]
    """Safe loader that refuses a key given twice in one mapping (PyYAML keeps the last silently),
    and a document whose aliases would expand past MAX_EXPANDED_NODES nodes."""

    def get_single_data(self) -> Any:
        node = self.get_single_node()
        if node is None:
            return None
        _expanded_size(node)
        return self.construct_document(node)

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
    except AliasBombError as exc:
        raise ConfigError(
            f"{path}:{exc.line}: YAML aliases expand to more than {MAX_EXPANDED_NODES} values; "
            "refused (an alias bomb?): write the repeated parts out or use fewer nested aliases"
        ) from None
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
