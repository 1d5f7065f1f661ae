"""The system prompt: a lean base text plus the agent's workspace files.

On a local model the prompt is most of the wait, so the base text is a few sentences; workspace
files add only what they contain.
"""

from __future__ import annotations

from collections.abc import Sequence

from rustyclaw.domain.memory import memory_prompt_section
from rustyclaw.ports.workspace import Workspace

# OpenClaw's order of injection.
BOOTSTRAP_FILES: tuple[str, ...] = ("AGENTS.md", "SOUL.md", "TOOLS.md", "IDENTITY.md", "USER.md")

BASE_PROMPT = (
    "You are a helpful personal assistant reached through RustyClaw, a self-hosted chat gateway. "
    "Answer concisely and plainly. Call a tool only when it is needed to answer; otherwise reply "
    "directly. If you are unsure, say so."
)


def cap(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n[... truncated at {limit} characters ...]"


class PromptBuilder:
    def __init__(
        self,
        workspace: Workspace | None,
        *,
        base_prompt: str | None = None,
        per_file_chars: int = 20_000,
        total_chars: int = 150_000,
        files: Sequence[str] = BOOTSTRAP_FILES,
        memory_main_key: str | None = None,
    ) -> None:
        """`memory_main_key` set (the sessions' main key): MEMORY.md joins the Project Context of
        each agent's main session (OpenClaw: main session only; group chats never see it)."""
        self._workspace = workspace
        self._base = base_prompt or BASE_PROMPT
        self._per_file = per_file_chars
        self._total = total_chars
        self._files = tuple(files)
        self._memory_main_key = memory_main_key

    def build(self, agent_id: str, session_key: str | None = None) -> str:
        sections: list[str] = []
        remaining = self._total
        if self._workspace is not None:
            for name in self._files:
                if remaining <= 0:
                    break
                # Read one character past the cap so a truncation is visible to the model.
                text = self._workspace.read_text(agent_id, name, self._per_file + 1)
                if text is None or not text.strip():
                    continue
                body = cap(cap(text.strip(), self._per_file), remaining)
                remaining -= len(body)
                sections.append(f"## {name}\n{body}")
        if self._memory_main_key is not None and session_key is not None and remaining > 0:
            memory = memory_prompt_section(self._workspace, agent_id, session_key, self._memory_main_key,
                                           min(self._per_file, remaining))
            if memory:
                sections.append(memory)
        if not sections:
            return self._base
        return self._base + "\n\n# Project Context\n\n" + "\n\n".join(sections)
