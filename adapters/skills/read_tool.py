"""`read` that also opens the files of the agent's skills, wherever their root is (OpenClaw's way:
the prompt lists each SKILL.md's location and the model reads it with `read`).

Only files inside a skill folder the agent may see are served (real paths, every symlink followed);
anything else goes to the ordinary workspace-confined `read`, so the tool's policy and its limits
stay what they were.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import anyio.to_thread

from rustyclaw.adapters.skills.catalog import SkillCatalog
from rustyclaw.adapters.tools.fs import MAX_READ_BYTES
from rustyclaw.adapters.tools.paths import open_no_follow
from rustyclaw.domain.errors import ToolError
from rustyclaw.ports.tools import Tool, ToolContext


class SkillReadTool:
    def __init__(self, inner: Tool, catalog: SkillCatalog, *, max_bytes: int = MAX_READ_BYTES) -> None:
        self.spec = inner.spec
        self._inner = inner
        self._catalog = catalog
        self._max_bytes = max_bytes

    async def run(self, arguments: dict[str, Any], context: ToolContext) -> str:
        raw = arguments.get("path")
        if isinstance(raw, str) and raw.strip() and "\x00" not in raw:
            target = await anyio.to_thread.run_sync(self._skill_path, raw.strip(), context.agent_id)
            if target is not None:
                return await anyio.to_thread.run_sync(self._read, target)
        return await self._inner.run(arguments, context)

    def _skill_path(self, raw: str, agent_id: str) -> Path | None:
        given = Path(os.path.expanduser(raw))
        if not given.is_absolute():
            return None
        real = Path(os.path.realpath(given))
        for skill in self._catalog.for_agent(agent_id):
            folder = Path(os.path.realpath(skill.folder))
            if real == folder or real.is_relative_to(folder):
                return real
        return None

    def _read(self, path: Path) -> str:
        if path.is_dir():
            names = sorted(p.name + ("/" if p.is_dir() else "") for p in path.iterdir())
            return "\n".join(names[:500]) or "(empty folder)"
        if not path.is_file():
            raise ToolError(f"{path} does not exist")
        fd = open_no_follow(path, os.O_RDONLY)
        with os.fdopen(fd, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            data = handle.read(self._max_bytes)
        text = data.decode("utf-8", errors="replace")
        if size > len(data):
            text += f"\n[... truncated: showed {len(data)} of {size} bytes]"
        return text
