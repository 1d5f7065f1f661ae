"""The `skills` section: AgentSkills folders (`SKILL.md`), where they are found and what may be installed.

Keys follow OpenClaw's `skills.*`: `load.extraDirs`, `entries.<name>.enabled` / `env`. Per agent,
`agents.list[].skills` narrows which skills an agent sees (unset: all; `[]`: none).
"""

from __future__ import annotations

from pydantic import Field

from rustyclaw.config.base import PathValue, SecretStrValue, Section, section


class SkillsLoadConfig(Section):
    """Skill roots beyond `<workspace>/skills` and `<stateDir>/skills` (lowest precedence)."""

    extra_dirs: list[PathValue] = Field(default_factory=list)


class SkillEntryConfig(Section):
    """One skill's switch and the environment it may find set (counts for its `requires.env`)."""

    enabled: bool = True
    env: dict[str, SecretStrValue] = Field(default_factory=dict)


class SkillsInstallConfig(Section):
    """What `rustyclaw skills install` refuses: a skill that asks for any of these is not installed."""

    # Binaries a skill may not require (e.g. `sudo`, `curl`); `*` globs allowed.
    deny_bins: list[str] = Field(default_factory=lambda: ["sudo", "su", "doas"])
    # Environment variables a skill may not ask for (credentials it has no business reading).
    deny_env: list[str] = Field(
        default_factory=lambda: ["AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "SSH_AUTH_SOCK", "GITHUB_TOKEN",
                                 "GH_TOKEN", "*_PASSWORD"]
    )
    # Skills ship instructions and small helper files, not programs: executables are refused.
    allow_executables: bool = False
    max_bytes: int = Field(5_000_000, ge=1000)
    max_files: int = Field(500, ge=1)


class SkillsConfig(Section):
    """Skills the agents may read on demand; each is listed in the prompt as name, description, path."""

    enabled: bool = True
    load: SkillsLoadConfig = section()
    entries: dict[str, SkillEntryConfig] = Field(default_factory=dict)
    install: SkillsInstallConfig = section()
    # The prompt listing is cut beyond this many characters (OpenClaw's maxSkillsPromptChars).
    max_prompt_chars: int = Field(6_000, ge=0)
