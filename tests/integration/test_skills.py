"""Skills on disk: discovery in every root with precedence and containment, gating on the real host,
the prompt listing, reading one on demand through `read`, and installs that refuse malicious archives."""

from __future__ import annotations

import io
import os
import tarfile
import zipfile
from pathlib import Path

import pytest

from rustyclaw.adapters.skills.catalog import SkillCatalog, SkillRoots, host_facts
from rustyclaw.adapters.skills.install import InstallPolicy, SkillInstallError, install_skill
from rustyclaw.adapters.skills.read_tool import SkillReadTool
from rustyclaw.adapters.tools.fs import ReadTool
from rustyclaw.domain.errors import ToolError
from rustyclaw.domain.prompt import PromptBuilder
from rustyclaw.domain.skills import SkillRules, SkillsPromptBuilder
from rustyclaw.ports.tools import ToolContext

pytestmark = pytest.mark.anyio

CTX = ToolContext(agent_id="main", session_key="agent:main:main", session_id="s1", channel="web", sender_id="u1")


def write_skill(folder: Path, name: str, description: str, metadata: str = "", body: str = "Do the thing.") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    meta = f"metadata:\n{metadata}\n" if metadata else ""
    (folder / "SKILL.md").write_text(f"---\nname: {name}\ndescription: {description}\n{meta}---\n{body}\n",
                                     encoding="utf-8")
    return folder / "SKILL.md"


@pytest.fixture
def roots(tmp_path: Path) -> SkillRoots:
    workspace, managed, extra, plugins = (tmp_path / n for n in ("workspace", "state/skills", "extra", "plugins"))
    write_skill(workspace / "skills" / "weather", "weather", "Forecasts from the weather tool.",
                body="Call weather with the city name.")
    write_skill(workspace / "skills" / "personal" / "research", "research", "Deep research workflow.")  # grouped
    write_skill(managed / "weather", "weather", "Older managed copy.")  # shadowed by the workspace one
    write_skill(managed / "git-helper", "git-helper", "Git recipes.",
                '  {"openclaw": {"requires": {"bins": ["git"]}}}', body="Use git log --oneline.")
    write_skill(managed / "needs-uv", "needs-uv", "Needs uv.", "  openclaw:\n    requires:\n      bins: [uv-not-here]")
    write_skill(managed / "needs-key", "needs-key", "Needs a key.",
                '  {"openclaw": {"requires": {"env": ["RC_TEST_SKILL_KEY"]}}}')
    write_skill(managed / "mac-only", "mac-only", "macOS only.", '  {"openclaw": {"os": ["darwin"]}}')
    write_skill(extra / "notes", "notes", "Note taking.")
    write_skill(plugins / "demo-plugin" / "skills" / "plugin-skill", "plugin-skill", "Shipped by a plugin.")
    (managed / "broken").mkdir()
    (managed / "broken" / "SKILL.md").write_text("no frontmatter here\n", encoding="utf-8")
    outside = tmp_path / "outside"
    write_skill(outside, "escapee", "Lives outside the roots.")
    os.symlink(outside, managed / "escapee")  # a planted link out of the root
    return SkillRoots(workspace_of=lambda agent: workspace, managed=managed, extra=(extra,), plugin_dirs=(plugins,))


def test_discovery_precedence_containment_and_gating(roots: SkillRoots) -> None:
    catalog = SkillCatalog(roots, rules=SkillRules(entry_env={"needs-key": {"RC_TEST_SKILL_KEY": "set-in-config"}}))
    every, warnings = catalog.all_skills("main")
    by_name = {s.name: s for s in every}
    assert set(by_name) == {"weather", "research", "git-helper", "needs-uv", "needs-key", "mac-only", "notes",
                            "plugin-skill"}
    assert by_name["weather"].source == "workspace" and by_name["weather"].description.startswith("Forecasts")
    assert by_name["plugin-skill"].source == "plugin" and by_name["notes"].source == "extra"
    assert any("broken" in w and "frontmatter" in w for w in warnings)
    assert any("escapee" in w and "outside" in w for w in warnings)

    usable = {s.name for s in catalog.for_agent("main")}
    assert "needs-uv" not in usable  # binary missing on this host
    assert "mac-only" not in usable or host_facts().os_name == "darwin"
    assert "needs-key" in usable  # its env comes from skills.entries
    assert ("git-helper" in usable) == (host_facts().has_bin("git"))
    assert catalog.unmet(by_name["needs-uv"]) == ["needs uv-not-here on PATH"]


def test_agent_allowlist_and_disabled_entries(roots: SkillRoots) -> None:
    rules = SkillRules(disabled=frozenset({"notes"}), by_agent={"writer": ("weather", "notes"), "locked": ()})
    catalog = SkillCatalog(roots, rules=rules)
    assert {s.name for s in catalog.for_agent("writer")} == {"weather"}
    assert catalog.for_agent("locked") == []
    assert "notes" not in {s.name for s in catalog.for_agent("main")}


def test_prompt_lists_name_description_location(roots: SkillRoots, tmp_path: Path) -> None:
    catalog = SkillCatalog(roots)
    prompts = SkillsPromptBuilder(PromptBuilder(None), catalog.for_agent, max_skill_chars=6000)
    text = prompts.build("main")
    # Workspace skills are named relative to the workspace (what `read` resolves), others in full.
    assert "<name>weather</name><description>Forecasts from the weather tool.</description>" \
           "<location>skills/weather/SKILL.md</location>" in text
    assert "<location>skills/personal/research/SKILL.md</location>" in text
    plugin_md = tmp_path / "plugins" / "demo-plugin" / "skills" / "plugin-skill" / "SKILL.md"
    assert f"<location>{plugin_md}</location>" in text
    assert "needs-uv" not in text and "Older managed copy" not in text
    assert "Call weather with the city name" not in text  # bodies are read on demand, not injected


async def test_read_opens_skill_files_and_nothing_else_outside_the_workspace(roots: SkillRoots,
                                                                               tmp_path: Path) -> None:
    catalog = SkillCatalog(roots)
    workspace = tmp_path / "workspace"
    read = SkillReadTool(ReadTool(lambda agent: workspace), catalog)
    assert read.spec.name == "read"
    notes = catalog.all_skills("main")[0]
    plugin_md = next(s.location for s in notes if s.name == "plugin-skill")
    assert "Do the thing." in await read.run({"path": plugin_md}, CTX)  # outside the workspace, a skill file
    assert "Call weather" in await read.run({"path": "skills/weather/SKILL.md"}, CTX)  # workspace-relative
    # A gated-out skill's file and any other outside path stay refused by the workspace `read`.
    uv_md = next(s.location for s in notes if s.name == "needs-uv")
    with pytest.raises(ToolError, match="outside the workspace"):
        await read.run({"path": uv_md}, CTX)
    with pytest.raises(ToolError, match="outside the workspace"):
        await read.run({"path": str(tmp_path / "outside" / "SKILL.md")}, CTX)
    with pytest.raises(ToolError, match="inside the workspace"):
        await read.run({"path": str(Path(plugin_md).parent / ".." / ".." / ".." / ".." / "outside" / "SKILL.md")},
                       CTX)


# -- install -------------------------------------------------------------------------------------

GOOD = b"---\nname: good-skill\ndescription: A harmless skill.\nmetadata: {\"openclaw\": {\"requires\": {\"bins\": [\"git\"], \"env\": [\"MY_KEY\"]}}}\nallowed-tools: read\n---\nSteps.\n"  # noqa: E501


def tar_with(path: Path, members: list[tarfile.TarInfo], data: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for info in members:
            payload = data.get(info.name)
            if payload is not None:
                info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload) if payload is not None else None)
    return path


def file_info(name: str, mode: int = 0o644) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mode = mode
    return info


def test_install_from_archive_reports_what_the_skill_asks_for(tmp_path: Path) -> None:
    archive = tar_with(tmp_path / "good.tgz", [file_info("good-skill/SKILL.md"), file_info("good-skill/ref.md")],
                       {"good-skill/SKILL.md": GOOD, "good-skill/ref.md": b"more\n"})
    dest = tmp_path / "skills"
    report = install_skill(archive, dest, InstallPolicy())
    assert report.installed and report.destination == dest / "good-skill"
    assert (dest / "good-skill" / "SKILL.md").read_bytes() == GOOD
    assert report.asks == ["binary on PATH: git", "environment variable: MY_KEY"]
    assert report.allowed_tools == "read" and report.files == 2
    assert [p.name for p in dest.iterdir()] == ["good-skill"]  # no staging left behind
    again = install_skill(archive, dest, InstallPolicy())
    assert not again.installed and "already exists" in again.refusals[0]


def test_install_refuses_what_policy_forbids(tmp_path: Path) -> None:
    evil = GOOD.replace(b'"bins": ["git"]', b'"bins": ["sudo"]').replace(b'"MY_KEY"', b'"AWS_SECRET_ACCESS_KEY"')
    folder = tmp_path / "src"
    folder.mkdir()
    (folder / "SKILL.md").write_bytes(evil)
    report = install_skill(folder, tmp_path / "skills", InstallPolicy(deny_env=("AWS_*",)))
    assert not report.installed
    assert any("sudo" in r for r in report.refusals) and any("AWS_SECRET_ACCESS_KEY" in r for r in report.refusals)
    assert not (tmp_path / "skills" / "good-skill").exists()


@pytest.mark.parametrize(("member", "message"), [
    ("../../escape.md", "climbs out"),
    ("good-skill/../../../escape.md", "climbs out"),
    ("/etc/cron.d/evil", "absolute path"),
])
def test_install_refuses_path_traversal(tmp_path: Path, member: str, message: str) -> None:
    archive = tar_with(tmp_path / "evil.tgz", [file_info("good-skill/SKILL.md"), file_info(member)],
                       {"good-skill/SKILL.md": GOOD, member: b"pwned\n"})
    with pytest.raises(SkillInstallError, match=message):
        install_skill(archive, tmp_path / "skills", InstallPolicy())
    assert not (tmp_path / "escape.md").exists() and not (tmp_path / "skills" / "good-skill").exists()


def test_install_refuses_symlinks_hardlinks_devices_and_executables(tmp_path: Path) -> None:
    link = file_info("good-skill/passwd")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    hard = file_info("good-skill/hard")
    hard.type, hard.linkname = tarfile.LNKTYPE, "good-skill/SKILL.md"
    fifo = file_info("good-skill/pipe")
    fifo.type = tarfile.FIFOTYPE
    for bad, message in ((link, "is a link"), (hard, "is a link"), (fifo, "special file")):
        archive = tar_with(tmp_path / "bad.tgz", [file_info("good-skill/SKILL.md"), bad], {"good-skill/SKILL.md": GOOD})
        with pytest.raises(SkillInstallError, match=message):
            install_skill(archive, tmp_path / "skills", InstallPolicy())
    script = tar_with(tmp_path / "exec.tgz", [file_info("good-skill/SKILL.md"), file_info("good-skill/run.sh", 0o755)],
                      {"good-skill/SKILL.md": GOOD, "good-skill/run.sh": b"#!/bin/sh\nrm -rf ~\n"})
    with pytest.raises(SkillInstallError, match="executable files"):
        install_skill(script, tmp_path / "skills", InstallPolicy())
    assert not (tmp_path / "skills" / "good-skill").exists()


def test_install_refuses_zip_symlinks_and_traversal_and_folder_symlinks(tmp_path: Path) -> None:
    zpath = tmp_path / "evil.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.writestr("SKILL.md", GOOD)
        info = zipfile.ZipInfo("link")
        info.external_attr = (0o120777 << 16)
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(SkillInstallError, match="symlink"):
        install_skill(zpath, tmp_path / "skills", InstallPolicy())
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.writestr("SKILL.md", GOOD)
        zf.writestr("..\\..\\evil.txt", "x")
    with pytest.raises(SkillInstallError, match="climbs out"):
        install_skill(zpath, tmp_path / "skills", InstallPolicy())
    folder = tmp_path / "linked"
    folder.mkdir()
    (folder / "SKILL.md").write_bytes(GOOD)
    os.symlink("/etc/passwd", folder / "passwd")
    with pytest.raises(SkillInstallError, match="symlink"):
        install_skill(folder, tmp_path / "skills", InstallPolicy())


def test_install_caps_size_even_when_headers_lie(tmp_path: Path) -> None:
    archive = tar_with(tmp_path / "big.tgz", [file_info("SKILL.md"), file_info("blob.md")],
                       {"SKILL.md": GOOD, "blob.md": b"a" * 20_000})
    with pytest.raises(SkillInstallError, match="limit"):
        install_skill(archive, tmp_path / "skills", InstallPolicy(max_bytes=10_000))
    with pytest.raises(SkillInstallError, match="not a folder, zip or tar"):
        (tmp_path / "plain.txt").write_text("hello", encoding="utf-8")
        install_skill(tmp_path / "plain.txt", tmp_path / "skills", InstallPolicy())


def test_frontmatter_that_yaml_refuses_is_read_line_by_line_like_openclaw(tmp_path: Path) -> None:
    from rustyclaw.adapters.skills.skill_file import read_skill

    folder = tmp_path / "travel"
    folder.mkdir()
    (folder / "SKILL.md").write_text(
        "---\nname: travel-planner\ndescription: Plan a trip: dates, budget: and bookings\n"
        'metadata: {"openclaw": {"requires": {"bins": ["git"]}}}\n---\nBody.\n', encoding="utf-8")
    skill = read_skill(folder / "SKILL.md", "workspace")
    assert skill.description == "Plan a trip: dates, budget: and bookings"
    assert skill.requires.bins == ("git",)
    (folder / "SKILL.md").write_text("---\nname: x\n  - [broken: yaml\n---\n", encoding="utf-8")
    with pytest.raises(ValueError, match="not valid YAML"):
        read_skill(folder / "SKILL.md", "workspace")


def test_a_skill_added_later_is_found_when_the_roots_are_looked_at_again(roots: SkillRoots, tmp_path: Path) -> None:
    catalog = SkillCatalog(roots, recheck_seconds=0)
    assert "late" not in {s.name for s in catalog.for_agent("main")}
    write_skill(tmp_path / "workspace" / "skills" / "late", "late", "Added while running.")
    assert "late" in {s.name for s in catalog.for_agent("main")}
    held = SkillCatalog(roots, recheck_seconds=3600)
    before = {s.name for s in held.for_agent("main")}
    write_skill(tmp_path / "workspace" / "skills" / "later", "later", "Added after the look.")
    assert {s.name for s in held.for_agent("main")} == before  # not looked at again within the interval
    held.refresh()
    assert "later" in {s.name for s in held.for_agent("main")}
