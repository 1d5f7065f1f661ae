"""Reading one `SKILL.md`: YAML frontmatter (`name`, `description`, optional `metadata`) and body.

PyYAML reads the frontmatter: OpenClaw's skills write `metadata` as a JSON-style flow mapping, which
the reference library's strict YAML refuses. `metadata` may also be a JSON string (older skills).
Requirements come from `metadata.openclaw` (legacy `metadata.clawdbot` when that is absent).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rustyclaw.domain.skills import Requirements, Skill, Source

SKILL_FILE = "SKILL.md"
MAX_SKILL_BYTES = 256_000
_OS_NAMES = {"darwin", "linux", "win32"}


class SkillFormatError(ValueError):
    """The SKILL.md cannot be used; the message names the file and the problem."""


def split_frontmatter(text: str, where: str) -> tuple[dict[str, Any], str]:
    if not text.startswith("---"):
        raise SkillFormatError(f"{where}: must start with YAML frontmatter between '---' lines")
    parts = text.split("\n---", 1)
    if len(parts) < 2:
        raise SkillFormatError(f"{where}: the frontmatter is not closed with '---'")
    head = parts[0][3:]
    body = parts[1].split("\n", 1)[1] if "\n" in parts[1] else ""
    # PyYAML (18 modules; 0.8 MB of the idle gateway's RSS) loads with the first SKILL.md read, not at start.
    import yaml

    try:
        data = yaml.safe_load(head)
    except yaml.YAMLError as exc:
        # OpenClaw's fallback: plain `key: value` lines, so `description: Plan a trip: dates, ...`
        # (a second `: `, which YAML refuses) still reads as people meant it.
        data = _single_lines(head)
        if data is None:
            raise SkillFormatError(f"{where}: the frontmatter is not valid YAML ({exc})") from exc
    if not isinstance(data, dict):
        raise SkillFormatError(f"{where}: the frontmatter must be a mapping of keys")
    return data, body.strip()


def _single_lines(head: str) -> dict[str, Any] | None:
    """`key: value` per line (the value is everything after the first `: `); None unless every line fits."""
    data: dict[str, Any] = {}
    for line in head.splitlines():
        if not line.strip():
            continue
        key, sep, value = line.partition(":")
        if not sep or not key.strip() or key != key.strip() or " " in key:
            return None
        text = value.strip()
        if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
            text = text[1:-1]
        data[key] = text
    return data or None


def _strings(value: Any, where: str, key: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise SkillFormatError(f"{where}: metadata.openclaw.{key} should be a list of names")


def openclaw_metadata(front: dict[str, Any], where: str) -> dict[str, Any]:
    meta = front.get("metadata")
    if isinstance(meta, str):
        try:
            meta = json.loads(meta)
        except json.JSONDecodeError as exc:
            raise SkillFormatError(f"{where}: metadata is text but not JSON ({exc.msg})") from exc
    if meta is None:
        return {}
    if not isinstance(meta, dict):
        raise SkillFormatError(f"{where}: metadata should be a mapping")
    block = meta.get("openclaw", meta.get("clawdbot", {}))
    if not isinstance(block, dict):
        raise SkillFormatError(f"{where}: metadata.openclaw should be a mapping")
    return block


def requirements(front: dict[str, Any], where: str) -> Requirements:
    block = openclaw_metadata(front, where)
    requires = block.get("requires") or {}
    if not isinstance(requires, dict):
        raise SkillFormatError(f"{where}: metadata.openclaw.requires should be a mapping")
    os_names = _strings(block.get("os"), where, "os")
    unknown = [o for o in os_names if o not in _OS_NAMES]
    if unknown:
        raise SkillFormatError(f"{where}: metadata.openclaw.os has {unknown[0]!r}; use darwin, linux or win32")
    return Requirements(
        bins=_strings(requires.get("bins"), where, "requires.bins"),
        any_bins=_strings(requires.get("anyBins"), where, "requires.anyBins"),
        env=_strings(requires.get("env"), where, "requires.env"),
        os=os_names,
        always=bool(block.get("always", False)),
    )


def read_skill(skill_md: Path, source: Source) -> Skill:
    """The skill a SKILL.md describes; SkillFormatError when it cannot be used at all."""
    where = str(skill_md)
    try:
        size = skill_md.stat().st_size
        if size > MAX_SKILL_BYTES:
            raise SkillFormatError(f"{where}: {size} bytes; a SKILL.md may be at most {MAX_SKILL_BYTES}")
        text = skill_md.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise SkillFormatError(f"{where}: not UTF-8 text") from exc
    except OSError as exc:
        raise SkillFormatError(f"{where}: cannot be read ({exc.strerror or exc})") from exc
    front, _ = split_frontmatter(text, where)
    name = front.get("name") or skill_md.parent.name
    description = front.get("description")
    if not isinstance(name, str) or not name.strip():
        raise SkillFormatError(f"{where}: 'name' should be a non-empty text")
    if not isinstance(description, str) or not description.strip():
        raise SkillFormatError(f"{where}: needs a 'description' (what the skill does and when to use it)")
    return Skill(
        name=name.strip(), description=" ".join(description.split()), location=str(skill_md),
        folder=str(skill_md.parent), source=source, requires=requirements(front, where),
        hidden=bool(front.get("disable-model-invocation", False)),
        warnings=tuple(spec_problems(front, skill_md.parent)),
    )


def spec_problems(front: dict[str, Any], folder: Path) -> list[str]:
    """The AgentSkills spec's own checks (the `skills-ref` reference library), when it is installed.

    Keys OpenClaw adds (homepage, user-invocable, ...) are not counted as problems.
    """
    try:
        from skills_ref.validator import validate_metadata
    except ImportError:
        return []
    known = {"name", "description", "license", "allowed-tools", "metadata", "compatibility"}
    core = {k: v for k, v in front.items() if k in known}
    if isinstance(core.get("metadata"), dict):
        core["metadata"] = {str(k): str(v) for k, v in core["metadata"].items()}
    return [str(p) for p in validate_metadata(core, folder)]
