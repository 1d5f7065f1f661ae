"""The memory Markdown files in each agent's workspace folder (MemoryFiles).

Only `MEMORY.md` and `memory/**/*.md` are memory files: every other path is refused, and every
path is confined to the workspace the way the fs tools confine theirs (no `..`, no symlink out).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from rustyclaw.adapters.tools.paths import confine, open_no_follow, relative, workspace_root
from rustyclaw.domain.errors import ToolError
from rustyclaw.domain.memory import MEMORY_DIR, MEMORY_FILE

FolderOf = Callable[[str], Path]


def memory_path(raw: str) -> str:
    """A workspace-relative memory file path, normalised, or a ToolError saying what is allowed."""
    path = raw.strip().replace("\\", "/").removeprefix("./")
    if path == MEMORY_FILE or (path.startswith(f"{MEMORY_DIR}/") and path.endswith(".md")):
        return path
    raise ToolError(f"{raw!r} is not a memory file: use {MEMORY_FILE} or {MEMORY_DIR}/<name>.md")


class WorkspaceMemoryFiles:
    def __init__(self, folder_of: FolderOf) -> None:
        self._folder_of = folder_of

    def root(self, agent_id: str) -> Path:
        return workspace_root(self._folder_of(agent_id))

    def list_files(self, agent_id: str) -> list[str]:
        root = self.root(agent_id)
        found: list[str] = []
        if (root / MEMORY_FILE).is_file():
            found.append(MEMORY_FILE)
        folder = root / MEMORY_DIR
        if folder.is_dir() and not folder.is_symlink():
            for path in folder.rglob("*.md"):
                if path.is_file() and not path.is_symlink():
                    found.append(relative(root, path).replace(os.sep, "/"))
        return sorted(found)

    def resolve(self, agent_id: str, path: str) -> Path:
        root = self.root(agent_id)
        return confine(root, memory_path(path))

    def read_lines(self, agent_id: str, path: str, start: int = 1, count: int | None = None) -> str:
        if start < 1:
            raise ToolError("'from' must be 1 or more (lines are numbered from 1)")
        if count is not None and count < 1:
            raise ToolError("'lines' must be 1 or more")
        target = self.resolve(agent_id, path)
        if not target.is_file():
            raise ToolError(f"no memory file {memory_path(path)!r}")
        fd = open_no_follow(target, os.O_RDONLY)
        with os.fdopen(fd, encoding="utf-8", errors="replace") as handle:
            lines = handle.read().splitlines()
        end = len(lines) if count is None else start - 1 + count
        return "\n".join(lines[start - 1 : end])

    def append(self, agent_id: str, path: str, text: str) -> None:
        target = self.resolve(agent_id, path)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd = open_no_follow(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as handle:
            handle.write(text if text.endswith("\n") else text + "\n")
