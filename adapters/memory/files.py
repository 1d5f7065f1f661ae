"""The memory Markdown files in each agent's workspace folder (MemoryFiles).

Only `MEMORY.md` and `memory/**/*.md` are memory files: every other path is refused, and every
path is confined to the workspace the way the fs tools confine theirs (no `..`, no symlink out).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

from rustyclaw.adapters.tools.paths import confine, open_no_follow, workspace_root
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
        return sorted(self.stamps(agent_id))

    def stamps(self, agent_id: str) -> dict[str, str]:
        """Each memory file with a stamp that changes when it does (mtime and size), in one walk:
        the index checks this before every search, so it avoids building a Path per file."""
        root = self.root(agent_id)
        found: dict[str, str] = {}
        try:
            top = os.stat(root / MEMORY_FILE, follow_symlinks=False)
            if stat.S_ISREG(top.st_mode):
                found[MEMORY_FILE] = f"{top.st_mtime_ns}:{top.st_size}"
        except OSError:
            pass
        # A memory/ that is a symlink could lead out of the workspace: not followed (nor are links inside).
        pending = [] if os.path.islink(root / MEMORY_DIR) else [(str(root / MEMORY_DIR), MEMORY_DIR)]
        while pending:
            folder, rel = pending.pop()
            try:
                entries = list(os.scandir(folder))
            except OSError:
                continue
            for item in entries:
                name = f"{rel}/{item.name}"
                if item.is_dir(follow_symlinks=False):
                    pending.append((item.path, name))
                elif item.name.endswith(".md") and item.is_file(follow_symlinks=False):
                    info = item.stat(follow_symlinks=False)
                    found[name] = f"{info.st_mtime_ns}:{info.st_size}"
        return found

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
