from __future__ import annotations

from rustyclaw.domain.prompt import BASE_PROMPT, PromptBuilder

from .fakes import DictWorkspace


def test_no_workspace_files_gives_the_lean_base_prompt() -> None:
    assert PromptBuilder(DictWorkspace({})).build("main") == BASE_PROMPT
    assert PromptBuilder(None).build("main") == BASE_PROMPT


def test_files_are_injected_in_openclaw_order_and_missing_ones_are_absent() -> None:
    ws = DictWorkspace({"USER.md": "The user is Ada.", "AGENTS.md": "Be brief.", "SOUL.md": "  "})
    prompt = PromptBuilder(ws).build("main")
    assert "# Project Context" in prompt
    assert prompt.index("## AGENTS.md") < prompt.index("## USER.md")
    assert "Be brief." in prompt and "The user is Ada." in prompt
    assert "SOUL.md" not in prompt and "TOOLS.md" not in prompt


def test_per_file_and_total_caps() -> None:
    ws = DictWorkspace({"AGENTS.md": "a" * 50, "SOUL.md": "s" * 50, "TOOLS.md": "t" * 50})
    prompt = PromptBuilder(ws, per_file_chars=30, total_chars=100).build("main")
    assert "a" * 30 in prompt and "a" * 31 not in prompt
    assert "truncated at 30 characters" in prompt
    assert "## SOUL.md" in prompt
    assert "## TOOLS.md" not in prompt  # the total cap was used up by the first two files
