"""Applying a unified diff (`diff -u` / `git diff` output) to files in the workspace.

Each hunk is located by its old lines (context and removals), at the stated line if they match
there, else at the nearest place where they do; a hunk that matches nowhere fails the whole patch
and nothing is written. `--- /dev/null` creates a file, `+++ /dev/null` deletes one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from rustyclaw.domain.errors import ToolError

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


@dataclass
class Hunk:
    old_start: int
    old: list[str] = field(default_factory=list)
    new: list[str] = field(default_factory=list)


@dataclass
class FilePatch:
    old_path: str | None
    new_path: str | None
    hunks: list[Hunk] = field(default_factory=list)

    @property
    def path(self) -> str:
        path = self.new_path or self.old_path
        assert path is not None
        return path


def _name(header: str) -> str | None:
    name = header[4:].split("\t", 1)[0].strip()
    if name == "/dev/null":
        return None
    if name.startswith(("a/", "b/")):
        name = name[2:]
    return name


def parse_patch(text: str) -> list[FilePatch]:
    lines = text.splitlines()
    files: list[FilePatch] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("--- ") and i + 1 < len(lines) and lines[i + 1].startswith("+++ "):
            files.append(FilePatch(_name(line), _name(lines[i + 1])))
            i += 2
            continue
        match = _HUNK.match(line)
        if match:
            if not files:
                raise ToolError("patch hunk before any '--- a/file' / '+++ b/file' header")
            i = _read_hunk(lines, i + 1, files[-1], match)
            continue
        i += 1
    if not files:
        raise ToolError("no file headers found: send a unified diff ('--- a/path', '+++ b/path', '@@ ... @@')")
    for patch in files:
        if patch.old_path is None and patch.new_path is None:
            raise ToolError("a patch names /dev/null on both sides")
    return files


def _read_hunk(lines: list[str], i: int, target: FilePatch, match: re.Match[str]) -> int:
    old_count = int(match[2]) if match[2] is not None else 1
    new_count = int(match[4]) if match[4] is not None else 1
    hunk = Hunk(old_start=int(match[1]))
    while i < len(lines) and (len(hunk.old) < old_count or len(hunk.new) < new_count):
        line = lines[i]
        tag, body = (line[:1], line[1:]) if line else (" ", "")
        if tag == " ":
            hunk.old.append(body)
            hunk.new.append(body)
        elif tag == "-":
            hunk.old.append(body)
        elif tag == "+":
            hunk.new.append(body)
        elif tag != "\\":  # "\ No newline at end of file"
            break
        i += 1
    if len(hunk.old) != old_count or len(hunk.new) != new_count:
        raise ToolError(f"hunk '{match[0]}' for {target.path} has the wrong number of lines")
    target.hunks.append(hunk)
    return i


def _find(lines: list[str], old: list[str], expected: int, floor: int) -> int | None:
    if not old:
        return max(floor, min(expected, len(lines)))
    candidates = range(floor, len(lines) - len(old) + 1)
    hits = [start for start in candidates if lines[start : start + len(old)] == old]
    return min(hits, key=lambda start: abs(start - expected)) if hits else None


def apply_hunks(text: str, patch: FilePatch) -> str:
    """The file's new text; raises ToolError when a hunk's old lines are not in the file."""
    lines = text.splitlines()
    trailing_newline = text.endswith("\n") or not text
    out: list[str] = []
    cursor = 0
    for number, hunk in enumerate(patch.hunks, 1):
        start = _find(lines, hunk.old, hunk.old_start - 1, cursor)
        if start is None:
            raise ToolError(f"hunk {number} of {patch.path} does not match the file (context not found)")
        out.extend(lines[cursor:start])
        out.extend(hunk.new)
        cursor = start + len(hunk.old)
    out.extend(lines[cursor:])
    return "\n".join(out) + ("\n" if out and trailing_newline else "")
