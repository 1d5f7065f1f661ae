"""Confining a model-supplied path to the agent's workspace folder."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

from rustyclaw.domain.errors import ToolError

WorkspaceOf = Callable[[str], Path]


def workspace_root(folder: Path) -> Path:
    """The real (symlink-free) workspace folder, created when missing."""
    folder.mkdir(parents=True, exist_ok=True)
    return folder.resolve(strict=True)


def confine(root: Path, raw: object) -> Path:
    """The real path `raw` names inside `root`, or a ToolError.

    Refused: empty or non-text paths, `..` components, absolute paths outside the workspace, and
    any path whose resolution (every symlink followed, dangling ones too) leaves the workspace.
    """
    if not isinstance(raw, str) or not raw.strip():
        raise ToolError("'path' must be a non-empty string")
    if "\x00" in raw:
        raise ToolError("'path' contains a NUL byte")
    given = Path(raw.strip())
    if ".." in given.parts:
        raise ToolError(f"path {raw!r} uses '..'; paths must stay inside the workspace")
    candidate = given if given.is_absolute() else root / given
    resolved = Path(os.path.realpath(candidate))
    if resolved != root and not resolved.is_relative_to(root):
        what = "is outside" if given.is_absolute() and not candidate.is_relative_to(root) else "leads outside"
        raise ToolError(f"path {raw!r} {what} the workspace")
    return resolved


def relative(root: Path, path: Path) -> str:
    return str(path.relative_to(root)) if path != root else "."


def open_no_follow(path: Path, flags: int, mode: int = 0o644) -> int:
    """Opens without following a final symlink: one swapped in after `confine` checked is refused."""
    try:
        return os.open(path, flags | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0), mode)
    except OSError as exc:
        raise ToolError(f"cannot open {path.name!r}: {exc.strerror or exc}") from exc


_KINDS = ((stat.S_ISFIFO, "a named pipe"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISDIR, "a folder"))


def open_regular(path: Path, flags: int, mode: int = 0o644) -> int:
    """`open_no_follow` for file contents: only a regular file with one link is ever read or written.

    O_NONBLOCK makes opening a named pipe return at once (instead of waiting for a writer forever);
    the fstat then refuses it, like devices and sockets. A file with more than one hard link may be
    the same inode as a file outside the workspace (a hard link needs no access to its target's
    folder, and realpath cannot see it), so it is refused too. Callers truncate after this check.
    """
    fd = open_no_follow(path, flags | os.O_NONBLOCK, mode)
    try:
        info = os.fstat(fd)
        for test, kind in _KINDS:
            if test(info.st_mode):
                raise ToolError(f"{path.name!r} is {kind}; only regular files can be read or written")
        if info.st_nlink > 1:
            raise ToolError(
                f"{path.name!r} has {info.st_nlink} hard links; refused because a hard link can reach a "
                "file outside the workspace"
            )
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd
