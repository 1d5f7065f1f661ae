"""The agent's workspace as a folder on disk: `<root>/<agentId>/` (the default agent may use `<root>`)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path


class FolderWorkspace:
    """Reads bootstrap files, caching each by modification time so a turn costs one stat per file."""

    def __init__(
        self, root: Path, default_agent: str = "main", *, folder_of: Callable[[str], Path] | None = None
    ) -> None:
        self.root = root.expanduser()
        self._default_agent = default_agent
        self._folder_of = folder_of
        self._cache: dict[Path, tuple[float, int, str]] = {}

    def folder(self, agent_id: str) -> Path:
        """`folder_of(agent_id)` when given (an agent's own `workspace`, as its tools use), else
        `<root>/<agentId>` (the default agent: `<root>` unless that subfolder exists)."""
        if self._folder_of is not None:
            return self._folder_of(agent_id)
        agent_dir = self.root / agent_id
        if agent_id == self._default_agent and not agent_dir.is_dir():
            return self.root
        return agent_dir

    def read_text(self, agent_id: str, name: str, limit: int) -> str | None:
        path = self.folder(agent_id) / name
        try:
            stat = path.stat()
        except OSError:
            return None
        cached = self._cache.get(path)
        if cached is not None and cached[0] == stat.st_mtime and cached[1] == limit:
            return cached[2]
        try:
            with open(path, encoding="utf-8", errors="replace") as handle:
                text = handle.read(limit)
        except OSError:
            return None
        self._cache[path] = (stat.st_mtime, limit, text)
        return text


def ensure_workspace(root: Path) -> Path:
    root = root.expanduser()
    os.makedirs(root, exist_ok=True)
    return root
