"""The skills catalog and install policy from the `skills` section (and `agents.list[].skills`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from rustyclaw.adapters.skills.catalog import SkillCatalog, SkillRoots
from rustyclaw.domain.skills import SkillRules

if TYPE_CHECKING:
    from rustyclaw.adapters.skills.install import InstallPolicy
    from rustyclaw.config.schema import RustyClawConfig
    from rustyclaw.config.skills import SkillsInstallConfig


def managed_dir(state_dir: Path) -> Path:
    """`<stateDir>/skills`: skills shared by every agent (`rustyclaw skills install --global`)."""
    return state_dir / "skills"


def skill_catalog(cfg: RustyClawConfig, workspace_of: Callable[[str], Path], state_dir: Path) -> SkillCatalog:
    skills = cfg.skills
    plugin_dirs = tuple(Path(d).expanduser() for d in cfg.plugins.dirs)
    off_plugins = {name for name, on in cfg.plugins.enabled.items() if not on}

    roots = SkillRoots(
        workspace_of=workspace_of, managed=managed_dir(state_dir),
        extra=tuple(Path(d).expanduser() for d in skills.load.extra_dirs), plugin_dirs=plugin_dirs,
        disabled_plugins=frozenset(off_plugins),
    )
    rules = SkillRules(
        disabled=frozenset(name for name, entry in skills.entries.items() if not entry.enabled),
        entry_env={name: {k: str(v) for k, v in entry.env.items()} for name, entry in skills.entries.items()},
        by_agent={a.id: tuple(a.skills) for a in cfg.agents.list if a.skills is not None},
    )
    return SkillCatalog(roots, rules=rules, enabled=skills.enabled)


def install_policy(section: SkillsInstallConfig) -> InstallPolicy:
    # Imported here: archives (tarfile, zipfile) are read only by `rustyclaw skills install`.
    from rustyclaw.adapters.skills.install import InstallPolicy

    return InstallPolicy(
        deny_bins=tuple(section.deny_bins), deny_env=tuple(section.deny_env),
        allow_executables=section.allow_executables, max_bytes=section.max_bytes, max_files=section.max_files,
    )
