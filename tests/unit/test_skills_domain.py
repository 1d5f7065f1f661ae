"""Skill gating, precedence and the prompt listing (pure domain rules; host facts are plain values)."""

from __future__ import annotations

from rustyclaw.domain.skills import (
    HostFacts,
    Requirements,
    Skill,
    SkillRules,
    merge_by_precedence,
    skills_prompt,
    unmet,
    visible,
)

LINUX = HostFacts(has_bin=lambda b: b in {"git", "node"}, env={"HOME": "/h", "EMPTY": ""}, os_name="linux")


def skill(name: str, source: str = "workspace", **req: object) -> Skill:
    return Skill(name=name, description=f"{name} things", location=f"/s/{source}/{name}/SKILL.md",
                 folder=f"/s/{source}/{name}", source=source, requires=Requirements(**req))  # type: ignore[arg-type]


def test_requirements_are_checked_against_the_host() -> None:
    assert unmet(skill("a", bins=("git",), env=("HOME",)), LINUX) == []
    assert unmet(skill("b", bins=("uv", "git")), LINUX) == ["needs uv on PATH"]
    assert unmet(skill("c", any_bins=("bun", "deno")), LINUX) == ["needs one of bun, deno on PATH"]
    assert unmet(skill("c2", any_bins=("bun", "node")), LINUX) == []
    assert unmet(skill("d", env=("GEMINI_API_KEY", "EMPTY")), LINUX) == [
        "needs the environment variable GEMINI_API_KEY", "needs the environment variable EMPTY"]
    assert unmet(skill("d", env=("GEMINI_API_KEY",)), LINUX, {"GEMINI_API_KEY": "k"}) == []  # skills.entries env
    assert unmet(skill("e", os=("darwin",)), LINUX) == ["runs only on darwin (this is linux)"]
    # `always` skips bins and env, never the OS filter.
    assert unmet(skill("f", always=True, bins=("uv",)), LINUX) == []
    assert unmet(skill("g", always=True, os=("win32",)), LINUX) == ["runs only on win32 (this is linux)"]


def test_visibility_per_agent_and_entries() -> None:
    skills = [skill("a"), skill("b"), skill("c", bins=("uv",))]
    rules = SkillRules(disabled=frozenset({"b"}), by_agent={"writer": ("a", "c"), "locked": ()})
    assert [s.name for s in visible(skills, "main", rules, LINUX)] == ["a"]
    assert [s.name for s in visible(skills, "writer", rules, LINUX)] == ["a"]
    assert visible(skills, "locked", rules, LINUX) == []


def test_precedence_workspace_over_managed_over_extra_over_plugin() -> None:
    merged = merge_by_precedence([skill("x", "plugin"), skill("x", "managed"), skill("y", "extra"),
                                  skill("x", "workspace"), skill("y", "plugin")])
    assert [(s.name, s.source) for s in merged] == [("x", "workspace"), ("y", "extra")]


def test_prompt_listing_is_compact_escaped_and_capped() -> None:
    tricky = Skill(name="a&b", description="uses <tags>", location="/s/a/SKILL.md", folder="/s/a", source="managed")
    hidden = Skill(name="h", description="secret", location="/s/h/SKILL.md", folder="/s/h", source="managed",
                   hidden=True)
    text = skills_prompt([tricky, hidden, skill("b")], 2000)
    assert "<available_skills>" in text and text.count("<skill>") == 2
    assert "<name>a&amp;b</name><description>uses &lt;tags&gt;</description><location>/s/a/SKILL.md</location>" in text
    assert "secret" not in text  # disable-model-invocation keeps it out
    assert "read tool" in text
    many = [skill(f"s{i:02d}") for i in range(40)]
    capped = skills_prompt(many, 900)
    assert len(capped) <= 1000 and "more skills not listed" in capped
    assert skills_prompt([], 2000) == "" and skills_prompt(many, 0) == ""


def test_escape_matches_the_standard_library() -> None:
    from xml.sax.saxutils import escape as sax_escape

    from rustyclaw.domain.skills import escape

    for text in ["", "plain", "a&b", "<tag attr=\"v\">", "&amp; already", "'quotes' \"both\"", "> < & ><&"]:
        assert escape(text) == sax_escape(text)
