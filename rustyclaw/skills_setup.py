"""Skills for the core (composition-root side): the catalog, the prompt listing and `read` for skill files.

    skills = SkillsSetup(cfg, state_dir, workspace_of)
    prompts = skills.prompts(PromptBuilder(...))     # + <available_skills> per agent
    skills.wrap_read(tool_setup.registry, tool_setup.tools)  # `read` also opens the agent's skill files
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from rustyclaw.domain.prompt import PromptBuilder
from rustyclaw.domain.skills import SkillsPromptBuilder
from rustyclaw.domain.tools import ToolRegistry
from rustyclaw.ports.tools import Tool

if TYPE_CHECKING:
    from rustyclaw.adapters.skills.catalog import SkillCatalog
    from rustyclaw.config.schema import RustyClawConfig


class SkillsSetup:
    def __init__(self, cfg: RustyClawConfig, state_dir: Path, workspace_of: Callable[[str], Path]) -> None:
        self.enabled = cfg.skills.enabled
        self._max_chars = cfg.skills.max_prompt_chars
        self.catalog: SkillCatalog | None = None
        if self.enabled:
            from rustyclaw.adapters.skills.settings import skill_catalog

            self.catalog = skill_catalog(cfg, workspace_of, state_dir)

    def prompts(self, inner: PromptBuilder) -> PromptBuilder:
        if self.catalog is None:
            return inner
        return SkillsPromptBuilder(inner, self.catalog.for_agent, max_skill_chars=self._max_chars)

    def wrap_read(self, registry: ToolRegistry, tools: Sequence[Tool]) -> None:
        """Replaces `read` in `registry` with one that also serves the agent's skill files."""
        read = next((t for t in tools if t.spec.name == "read"), None)
        if self.catalog is None or read is None:
            return
        from rustyclaw.adapters.skills.read_tool import SkillReadTool

        registry.register(SkillReadTool(read, self.catalog))
