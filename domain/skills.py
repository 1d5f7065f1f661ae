"""Skills (AgentSkills `SKILL.md` folders): who may see one, whether this host can run it, and the
compact listing the system prompt carries (OpenClaw's `<available_skills>`: name, description,
location; the model reads a skill's file on demand, so the prompt stays small).

Requirements follow OpenClaw's `metadata.openclaw`: `requires.bins` (each on PATH),
`requires.anyBins` (one of them), `requires.env` (each set, in the process or by
`skills.entries.<name>.env`), `os` (darwin, linux, win32); `always: true` skips the bins/env checks
but never the OS one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from rustyclaw.domain.prompt import PromptBuilder

Source = Literal["workspace", "managed", "extra", "plugin"]
# Highest precedence first: a name found in two roots is taken from the earlier one.
PRECEDENCE: tuple[Source, ...] = ("workspace", "managed", "extra", "plugin")


def escape(text: str) -> str:
    """``&``, ``<`` and ``>`` as XML entities: what ``xml.sax.saxutils.escape`` does, without importing it.

    xml.sax.saxutils imports urllib.request, hence http.client and email: about 1 MB of RSS at idle for
    three str.replace calls.
    """
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@dataclass(frozen=True, slots=True)
class Requirements:
    bins: tuple[str, ...] = ()
    any_bins: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    os: tuple[str, ...] = ()
    always: bool = False

    def asks_for(self) -> list[str]:
        """What the skill asks of the host, one line each (for install and info)."""
        out = [f"binary on PATH: {b}" for b in self.bins]
        if self.any_bins:
            out.append("one binary of: " + ", ".join(self.any_bins))
        out += [f"environment variable: {e}" for e in self.env]
        if self.os:
            out.append("operating system: " + " or ".join(self.os))
        return out


@dataclass(frozen=True, slots=True)
class Skill:
    name: str
    description: str
    # The SKILL.md file (absolute) and the folder it lives in.
    location: str
    folder: str
    source: Source
    requires: Requirements = field(default_factory=Requirements)
    # OpenClaw's `disable-model-invocation`: kept out of the prompt listing.
    hidden: bool = False
    # Problems found while reading it (format, spec); a skill with problems is still listed.
    warnings: tuple[str, ...] = ()
    # How the prompt names the file when shorter than `location` and still readable by `read`
    # (`skills/x/SKILL.md` in the workspace, `~/...` under the home folder); "" = `location`.
    shown: str = ""


@dataclass(frozen=True, slots=True)
class HostFacts:
    """What gating looks at; the adapter fills it from the real host."""

    has_bin: Callable[[str], bool]
    env: Mapping[str, str]
    os_name: str


@dataclass(frozen=True, slots=True)
class SkillRules:
    """`skills.entries` switches and env, and `agents.list[].skills` allowlists (None: every skill)."""

    disabled: frozenset[str] = frozenset()
    entry_env: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    by_agent: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


def unmet(skill: Skill, facts: HostFacts, extra_env: Mapping[str, str] | None = None) -> list[str]:
    """Why this host cannot use the skill; empty when it can."""
    req = skill.requires
    reasons: list[str] = []
    if req.os and facts.os_name not in req.os:
        reasons.append(f"runs only on {' or '.join(req.os)} (this is {facts.os_name})")
    if req.always:
        return reasons
    reasons += [f"needs {b} on PATH" for b in req.bins if not facts.has_bin(b)]
    if req.any_bins and not any(facts.has_bin(b) for b in req.any_bins):
        reasons.append(f"needs one of {', '.join(req.any_bins)} on PATH")
    given = extra_env or {}
    reasons += [f"needs the environment variable {e}" for e in req.env if not (facts.env.get(e) or given.get(e))]
    return reasons


def visible(skills: Iterable[Skill], agent_id: str, rules: SkillRules, facts: HostFacts) -> list[Skill]:
    """The skills one agent may use: allowed for it, not switched off, and runnable here."""
    allowed = rules.by_agent.get(agent_id)
    out = []
    for skill in skills:
        if skill.name in rules.disabled or (allowed is not None and skill.name not in allowed):
            continue
        if not unmet(skill, facts, rules.entry_env.get(skill.name)):
            out.append(skill)
    return out


def merge_by_precedence(found: Iterable[Skill]) -> list[Skill]:
    """One skill per name, from the highest-precedence root; sorted by name (a stable prompt)."""
    best: dict[str, Skill] = {}
    for skill in found:
        held = best.get(skill.name)
        if held is None or PRECEDENCE.index(skill.source) < PRECEDENCE.index(held.source):
            best[skill.name] = skill
    return [best[name] for name in sorted(best)]


SKILLS_INTRO = "When a request matches a skill below, first read its SKILL.md (location) with the read tool."


def skills_prompt(skills: Sequence[Skill], max_chars: int) -> str:
    """OpenClaw's compact `<available_skills>` block; skills past `max_chars` are left out (counted)."""
    listed = [s for s in skills if not s.hidden]
    if not listed or max_chars <= 0:
        return ""
    lines = ["## Skills", SKILLS_INTRO, "<available_skills>"]
    used = sum(len(line) + 1 for line in lines) + len("</available_skills>")
    left_out = 0
    for skill in listed:
        entry = (
            f"<skill><name>{escape(skill.name)}</name><description>{escape(skill.description)}</description>"
            f"<location>{escape(skill.shown or skill.location)}</location></skill>"
        )
        if used + len(entry) + 1 > max_chars:
            left_out += 1
            continue
        lines.append(entry)
        used += len(entry) + 1
    lines.append("</available_skills>")
    if left_out:
        lines.append(f"({left_out} more skills not listed: the listing is capped at {max_chars} characters)")
    return "\n".join(lines)


class SkillsPromptBuilder(PromptBuilder):
    """Another PromptBuilder's prompt plus the agent's skill listing (re-read per turn from `skills_for`).

    It wraps rather than re-implements: whatever the inner builder adds (workspace files, memory)
    stays as it is, and the skills come last.
    """

    def __init__(
        self, inner: PromptBuilder, skills_for: Callable[[str], Sequence[Skill]], *, max_skill_chars: int = 6_000,
    ) -> None:
        # No super().__init__(): every build is delegated to `inner`, which holds the settings.
        self._inner = inner
        self._skills_for = skills_for
        self._max_skill_chars = max_skill_chars

    def build(self, agent_id: str, session_key: str | None = None) -> str:
        base = self._inner.build(agent_id, session_key)
        listing = skills_prompt(self._skills_for(agent_id), self._max_skill_chars)
        return f"{base}\n\n{listing}" if listing else base
