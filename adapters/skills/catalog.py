"""Finding skills: `<workspace>/skills`, `<stateDir>/skills`, `skills.load.extraDirs`, and each plugin's
`skills/` folder (OpenClaw's roots, highest precedence first), then gating them for an agent.

A `SKILL.md` may sit up to six folders deep under a root (grouped layouts). Containment is strict:
a skill whose real path leaves its root (a symlinked folder or file pointing elsewhere) is skipped
with a warning, so a planted link cannot make the model read files outside the skill roots.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from rustyclaw.adapters.skills.skill_file import SKILL_FILE, SkillFormatError, read_skill
from rustyclaw.domain.skills import HostFacts, Skill, SkillRules, Source, merge_by_precedence, unmet, visible

log = logging.getLogger("rustyclaw.skills")

MAX_DEPTH = 6
_SKIP = {"node_modules", ".git", "__pycache__", ".venv"}


# PATH lookups are remembered this long: the prompt is built every turn, and a binary installed
# meanwhile is seen within a minute.
WHICH_TTL_SECONDS = 60.0


@functools.lru_cache(maxsize=512)
def _which(name: str, period: int) -> bool:
    return shutil.which(name) is not None


def host_facts() -> HostFacts:
    """This machine: PATH lookups, the process environment, `sys.platform` in OpenClaw's spelling."""
    os_name = "darwin" if sys.platform == "darwin" else "win32" if sys.platform.startswith("win") else "linux"

    def has_bin(name: str) -> bool:
        return _which(name, int(time.monotonic() // WHICH_TTL_SECONDS))

    return HostFacts(has_bin=has_bin, env=os.environ, os_name=os_name)


@dataclass(frozen=True, slots=True)
class SkillRoots:
    """Where skills are looked for; `workspace_of` gives an agent's workspace folder."""

    workspace_of: Callable[[str], Path]
    managed: Path | None = None
    extra: tuple[Path, ...] = ()
    plugin_dirs: tuple[Path, ...] = ()
    # Plugins switched off in `plugins.enabled`: their skills are not offered either.
    disabled_plugins: frozenset[str] = frozenset()

    def for_agent(self, agent_id: str) -> list[tuple[Source, Path]]:
        roots: list[tuple[Source, Path]] = [("workspace", self.workspace_of(agent_id) / "skills")]
        if self.managed is not None:
            roots.append(("managed", self.managed))
        roots += [("extra", p) for p in self.extra]
        for plugins in self.plugin_dirs:
            if plugins.is_dir():
                roots += [("plugin", p / "skills") for p in sorted(plugins.iterdir())
                          if p.name not in self.disabled_plugins and (p / "skills").is_dir()]
        return roots


def _skill_files(root: Path) -> Iterator[Path]:
    """Every SKILL.md under `root`, at most MAX_DEPTH folders down; a skill folder is not searched further."""
    stack: list[tuple[Path, int]] = [(root, 0)]
    while stack:
        folder, depth = stack.pop()
        candidate = folder / SKILL_FILE
        if candidate.is_file():
            yield candidate
            continue
        if depth >= MAX_DEPTH:
            continue
        try:
            children = sorted((p for p in folder.iterdir() if p.is_dir()), reverse=True)
        except OSError:
            continue
        stack += [(c, depth + 1) for c in children if c.name not in _SKIP and not c.name.startswith(".")]


def scan(source: Source, root: Path, warnings: list[str]) -> list[Skill]:
    if not root.is_dir():
        return []
    real_root = root.resolve()
    found: list[Skill] = []
    for skill_md in _skill_files(root):
        real = Path(os.path.realpath(skill_md))
        if not real.is_relative_to(real_root):
            warnings.append(f"{skill_md}: skipped, it resolves outside {root} ({real})")
            continue
        try:
            skill = read_skill(skill_md, source)
        except SkillFormatError as exc:
            warnings.append(str(exc))
            continue
        found.append(replace(skill, shown=_shown(skill_md, source, root)))
    return found


def _shown(skill_md: Path, source: Source, root: Path) -> str:
    """A shorter name for the prompt that `read` still resolves (fewer tokens every turn)."""
    if source == "workspace":
        return str(Path("skills") / skill_md.relative_to(root))  # read is relative to the workspace
    home = Path.home()
    if skill_md.is_relative_to(home):
        return "~/" + str(skill_md.relative_to(home))
    return ""


def _signature(roots: Sequence[tuple[Source, Path]]) -> tuple[tuple[str, int], ...]:
    """Modification times of the roots and their child folders: a new, removed or edited skill changes it
    (editing a SKILL.md in place changes its folder's mtime only with some editors: `refresh()` forces)."""
    marks: list[tuple[str, int]] = []
    for _, root in roots:
        try:
            marks.append((str(root), root.stat().st_mtime_ns))
            for child in root.iterdir():
                marks.append((str(child), child.stat().st_mtime_ns))
                md = child / SKILL_FILE
                if md.exists():
                    marks.append((str(md), md.stat().st_mtime_ns))
        except OSError:
            marks.append((str(root), -1))
    return tuple(marks)


@dataclass
class SkillCatalog:
    """Skills per agent, re-read only when the roots change; `for_agent` is what the prompt lists."""

    roots: SkillRoots
    rules: SkillRules = field(default_factory=SkillRules)
    facts: HostFacts = field(default_factory=host_facts)
    enabled: bool = True
    # The roots are looked at (a few stat calls) at most this often per agent: the prompt is built
    # every turn, and a skill added or edited is still seen within a second.
    recheck_seconds: float = 1.0
    _cache: dict[str, tuple[tuple[tuple[str, int], ...], list[Skill], list[str]]] = field(default_factory=dict)
    _checked: dict[str, float] = field(default_factory=dict)

    def all_skills(self, agent_id: str) -> tuple[list[Skill], list[str]]:
        """Every skill found for the agent (precedence applied, not gated) and the warnings met."""
        held = self._cache.get(agent_id)
        now = time.monotonic()
        if held is not None and now - self._checked.get(agent_id, -1e9) < self.recheck_seconds:
            return held[1], held[2]
        self._checked[agent_id] = now
        roots = self.roots.for_agent(agent_id)
        signature = _signature(roots)
        if held is not None and held[0] == signature:
            return held[1], held[2]
        warnings: list[str] = []
        found = [skill for source, root in roots for skill in scan(source, root, warnings)]
        merged = merge_by_precedence(found)
        for warning in warnings:
            log.warning("skill: %s", warning)
        self._cache[agent_id] = (signature, merged, warnings)
        return merged, warnings

    def for_agent(self, agent_id: str) -> list[Skill]:
        if not self.enabled:
            return []
        return visible(self.all_skills(agent_id)[0], agent_id, self.rules, self.facts)

    def unmet(self, skill: Skill) -> list[str]:
        return unmet(skill, self.facts, self.rules.entry_env.get(skill.name))

    def refresh(self) -> None:
        self._cache.clear()
        self._checked.clear()
