"""Workspace file tools on real files: confinement (traversal, absolute paths, symlinks), caps, edits, patches."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from rustyclaw.adapters.tools.fs import ApplyPatchTool, EditTool, ReadTool, WriteTool
from rustyclaw.domain.errors import ToolError
from rustyclaw.ports.tools import ToolContext

pytestmark = pytest.mark.anyio
CTX = ToolContext(agent_id="main", session_key="agent:main:main", session_id="s", channel="web", sender_id="u")


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "notes.txt").write_text("alpha\nbeta\ngamma\n")
    (tmp_path / "secret.txt").write_text("TOP SECRET")
    return root


def tools(ws: Path, **kw: Any) -> tuple[ReadTool, WriteTool, EditTool, ApplyPatchTool]:
    def of(agent: str) -> Path:
        return ws

    return ReadTool(of, **kw), WriteTool(of, **kw), EditTool(of, **kw), ApplyPatchTool(of, **kw)


async def refused(tool: Any, arguments: dict[str, Any], match: str) -> None:
    with pytest.raises(ToolError, match=match):
        await tool.run(arguments, CTX)


async def test_read_and_write_inside_the_workspace(ws: Path) -> None:
    read, write, _, _ = tools(ws)
    assert await read.run({"path": "notes.txt"}, CTX) == "alpha\nbeta\ngamma\n"
    assert await write.run({"path": "sub/dir/new.txt", "content": "hi"}, CTX) == "wrote 2 bytes to sub/dir/new.txt"
    assert (ws / "sub/dir/new.txt").read_text() == "hi"
    assert await read.run({"path": str(ws / "notes.txt")}, CTX) == "alpha\nbeta\ngamma\n"  # absolute, inside
    assert "notes.txt" in await read.run({"path": "."}, CTX)


@pytest.mark.parametrize("path", ["../secret.txt", "sub/../../secret.txt", "..", "./../ws/../secret.txt"])
async def test_traversal_is_refused(ws: Path, path: str) -> None:
    read, write, edit, _ = tools(ws)
    await refused(read, {"path": path}, "'..'")
    await refused(write, {"path": path, "content": "x"}, "'..'")
    await refused(edit, {"path": path, "old": "TOP", "new": "x"}, "'..'")
    assert (ws.parent / "secret.txt").read_text() == "TOP SECRET"


async def test_absolute_paths_outside_are_refused(ws: Path) -> None:
    read, write, _, _ = tools(ws)
    await refused(read, {"path": "/etc/passwd"}, "outside the workspace")
    await refused(read, {"path": str(ws.parent / "secret.txt")}, "outside the workspace")
    await refused(write, {"path": str(ws.parent / "evil.txt"), "content": "x"}, "outside the workspace")
    assert not (ws.parent / "evil.txt").exists()


async def test_symlinks_that_leave_the_workspace_are_refused(ws: Path) -> None:
    read, write, edit, patch = tools(ws)
    os.symlink(ws.parent / "secret.txt", ws / "link.txt")
    os.symlink(ws.parent, ws / "up")
    os.symlink(ws.parent / "not-yet.txt", ws / "dangling.txt")
    await refused(read, {"path": "link.txt"}, "leads outside")
    await refused(read, {"path": "up/secret.txt"}, "leads outside")
    await refused(write, {"path": "link.txt", "content": "pwned"}, "leads outside")
    await refused(write, {"path": "up/evil.txt", "content": "pwned"}, "leads outside")
    await refused(write, {"path": "dangling.txt", "content": "pwned"}, "leads outside")
    await refused(edit, {"path": "link.txt", "old": "TOP", "new": "NOT"}, "leads outside")
    await refused(patch, {"patch": "--- a/link.txt\n+++ b/link.txt\n@@ -1 +1 @@\n-TOP SECRET\n+x\n"}, "leads outside")
    assert (ws.parent / "secret.txt").read_text() == "TOP SECRET"
    assert not (ws.parent / "evil.txt").exists() and not (ws.parent / "not-yet.txt").exists()


async def test_symlinks_inside_the_workspace_are_fine(ws: Path) -> None:
    read, _, _, _ = tools(ws)
    os.symlink(ws / "notes.txt", ws / "alias.txt")
    assert (await read.run({"path": "alias.txt"}, CTX)).startswith("alpha")


async def test_bad_path_arguments(ws: Path) -> None:
    read, _, _, _ = tools(ws)
    await refused(read, {}, "'path' must be")
    await refused(read, {"path": 3}, "'path' must be")
    await refused(read, {"path": "a\x00b"}, "NUL")
    await refused(read, {"path": "missing.txt"}, "does not exist")


async def test_sizes_are_capped(ws: Path) -> None:
    read, write, edit, _ = tools(ws, max_bytes=10)
    (ws / "big.txt").write_text("0123456789ABCDEF")
    assert await read.run({"path": "big.txt"}, CTX) == "0123456789\n[... truncated: showed 10 of 16 bytes]"
    await refused(write, {"path": "w.txt", "content": "x" * 11}, "limit is 10")
    await refused(edit, {"path": "big.txt", "old": "0", "new": "1"}, "limit for editing is 10")
    (ws / "bin.dat").write_bytes(b"\x00\x01\x02")
    assert "binary file of 3 bytes" in await read.run({"path": "bin.dat"}, CTX)


async def test_edit_replaces_one_exact_unique_match(ws: Path) -> None:
    _, _, edit, _ = tools(ws)
    assert await edit.run({"path": "notes.txt", "old": "beta", "new": "BETA"}, CTX) == "edited notes.txt"
    assert (ws / "notes.txt").read_text() == "alpha\nBETA\ngamma\n"
    await refused(edit, {"path": "notes.txt", "old": "delta", "new": "x"}, "not found")
    (ws / "dup.txt").write_text("x = 1\nx = 1\n")
    await refused(edit, {"path": "dup.txt", "old": "x = 1", "new": "y"}, "appears 2 times")
    await refused(edit, {"path": "notes.txt", "old": "", "new": "x"}, "must not be empty")


PATCH = """diff --git a/notes.txt b/notes.txt
--- a/notes.txt
+++ b/notes.txt
@@ -1,3 +1,4 @@
 alpha
-beta
+BETA
+beta2
 gamma
--- /dev/null
+++ b/src/new.py
@@ -0,0 +1,2 @@
+print('hi')
+print('bye')
"""


async def test_apply_patch_unified_diff(ws: Path) -> None:
    _, _, _, patch = tools(ws)
    assert await patch.run({"patch": PATCH}, CTX) == "patched notes.txt, src/new.py"
    assert (ws / "notes.txt").read_text() == "alpha\nBETA\nbeta2\ngamma\n"
    assert (ws / "src/new.py").read_text() == "print('hi')\nprint('bye')\n"
    delete = "--- a/src/new.py\n+++ /dev/null\n@@ -1,2 +0,0 @@\n-print('hi')\n-print('bye')\n"
    await patch.run({"patch": delete}, CTX)
    assert not (ws / "src/new.py").exists()


async def test_apply_patch_finds_shifted_hunks_and_is_all_or_nothing(ws: Path) -> None:
    _, _, _, patch = tools(ws)
    (ws / "notes.txt").write_text("zero\nalpha\nbeta\ngamma\n")
    shifted = "--- a/notes.txt\n+++ b/notes.txt\n@@ -1,2 +1,2 @@\n alpha\n-beta\n+B\n"
    await patch.run({"patch": shifted}, CTX)
    assert (ws / "notes.txt").read_text() == "zero\nalpha\nB\ngamma\n"
    bad = PATCH.replace("-beta\n", "-nope\n").replace("+BETA\n+beta2\n", "+x\n")
    bad = bad.replace("@@ -1,3 +1,4 @@", "@@ -1,3 +1,3 @@")
    await refused(patch, {"patch": bad}, "does not match")
    assert not (ws / "src/new.py").exists()  # nothing written when one hunk fails
    await refused(patch, {"patch": "just text"}, "unified diff")
    await refused(patch, {"patch": "--- a/../x\n+++ b/../x\n@@ -0,0 +1 @@\n+x\n"}, "'..'")
