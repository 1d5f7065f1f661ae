"""`read`, `write`, `edit`, `apply_patch`: files inside the agent's workspace folder only."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import anyio.to_thread

from rustyclaw.adapters.tools.patch import apply_hunks, parse_patch
from rustyclaw.adapters.tools.paths import WorkspaceOf, confine, open_regular, relative, workspace_root
from rustyclaw.domain.errors import ToolError
from rustyclaw.ports.llm import ToolSpec
from rustyclaw.ports.tools import ToolContext

MAX_READ_BYTES = 64_000
MAX_WRITE_BYTES = 1_000_000


def _params(**props: str) -> dict[str, Any]:
    return {"type": "object", "properties": {k: {"type": v} for k, v in props.items()}, "required": list(props)}


def _text_arg(arguments: dict[str, Any], name: str) -> str:
    value = arguments.get(name)
    if not isinstance(value, str):
        raise ToolError(f"'{name}' must be a string")
    return value


def _read_file(path: Path, limit: int) -> tuple[bytes, int]:
    fd = open_regular(path, os.O_RDONLY)
    with os.fdopen(fd, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        return handle.read(limit), size


def _write_file(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = open_regular(path, os.O_WRONLY | os.O_CREAT)
    with os.fdopen(fd, "wb") as handle:
        handle.truncate(0)  # only now: a refused file (a hard link, a pipe) is left as it was
        handle.write(data)


def _read_text_whole(path: Path, limit: int) -> str:
    if not path.exists():
        raise ToolError(f"{path.name!r} does not exist")
    data, size = _read_file(path, limit + 1)
    if size > limit:
        raise ToolError(f"{path.name!r} is {size} bytes; the limit for editing is {limit}")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ToolError(f"{path.name!r} is not UTF-8 text") from exc


class _FileTool:
    def __init__(self, workspace_of: WorkspaceOf, *, max_bytes: int = MAX_WRITE_BYTES) -> None:
        self._workspace_of = workspace_of
        self._max_bytes = max_bytes

    def _root(self, context: ToolContext) -> Path:
        return workspace_root(self._workspace_of(context.agent_id))


class ReadTool(_FileTool):
    """`read`: a workspace file's text, capped."""

    spec = ToolSpec(name="read", description="Read a workspace file.", parameters=_params(path="string"))

    def __init__(self, workspace_of: WorkspaceOf, *, max_bytes: int = MAX_READ_BYTES) -> None:
        super().__init__(workspace_of, max_bytes=max_bytes)

    async def run(self, arguments: dict[str, Any], context: ToolContext) -> str:
        # Abandoned on cancel: a timeout or /stop ends the turn's wait even if the thread is stuck.
        return await anyio.to_thread.run_sync(self._run, arguments, context, abandon_on_cancel=True)

    def _run(self, arguments: dict[str, Any], context: ToolContext) -> str:
        root = self._root(context)
        path = confine(root, arguments.get("path"))
        if path.is_dir():
            names = sorted(p.name + ("/" if p.is_dir() else "") for p in path.iterdir())
            return "\n".join(names[:500]) or "(empty folder)"
        if not path.exists():
            raise ToolError(f"{relative(root, path)} does not exist")
        data, size = _read_file(path, self._max_bytes)
        if b"\x00" in data[:4096]:
            return f"{relative(root, path)} is a binary file of {size} bytes"
        text = data.decode("utf-8", errors="replace")
        if size > len(data):
            text += f"\n[... truncated: showed {len(data)} of {size} bytes]"
        return text


class WriteTool(_FileTool):
    """`write`: creates or replaces a workspace file (parents created)."""

    spec = ToolSpec(
        name="write", description="Create or overwrite a workspace file.",
        parameters=_params(path="string", content="string"),
    )

    async def run(self, arguments: dict[str, Any], context: ToolContext) -> str:
        # Abandoned on cancel: a timeout or /stop ends the turn's wait even if the thread is stuck.
        return await anyio.to_thread.run_sync(self._run, arguments, context, abandon_on_cancel=True)

    def _run(self, arguments: dict[str, Any], context: ToolContext) -> str:
        root = self._root(context)
        path = confine(root, arguments.get("path"))
        data = _text_arg(arguments, "content").encode("utf-8")
        if len(data) > self._max_bytes:
            raise ToolError(f"content is {len(data)} bytes; the limit is {self._max_bytes}")
        if path.is_dir():
            raise ToolError(f"{relative(root, path)} is a folder")
        _write_file(path, data)
        return f"wrote {len(data)} bytes to {relative(root, path)}"


class EditTool(_FileTool):
    """`edit`: replaces one exact, unique occurrence of `old` with `new`."""

    spec = ToolSpec(
        name="edit", description="Replace exact unique text in a workspace file.",
        parameters=_params(path="string", old="string", new="string"),
    )

    async def run(self, arguments: dict[str, Any], context: ToolContext) -> str:
        # Abandoned on cancel: a timeout or /stop ends the turn's wait even if the thread is stuck.
        return await anyio.to_thread.run_sync(self._run, arguments, context, abandon_on_cancel=True)

    def _run(self, arguments: dict[str, Any], context: ToolContext) -> str:
        root = self._root(context)
        path = confine(root, arguments.get("path"))
        old, new = _text_arg(arguments, "old"), _text_arg(arguments, "new")
        if not old:
            raise ToolError("'old' must not be empty")
        if not path.exists():
            raise ToolError(f"{relative(root, path)} does not exist")
        text = _read_text_whole(path, self._max_bytes)
        count = text.count(old)
        if count == 0:
            raise ToolError(f"the old text was not found in {relative(root, path)}")
        if count > 1:
            raise ToolError(f"the old text appears {count} times in {relative(root, path)}; include more "
                            "surrounding text so it is unique")
        updated = text.replace(old, new, 1).encode("utf-8")
        if len(updated) > self._max_bytes:
            raise ToolError(f"the result would be {len(updated)} bytes; the limit is {self._max_bytes}")
        _write_file(path, updated)
        return f"edited {relative(root, path)}"


class ApplyPatchTool(_FileTool):
    """`apply_patch`: a unified diff over one or more workspace files; all or nothing."""

    spec = ToolSpec(
        name="apply_patch", description="Apply a unified diff to workspace files.",
        parameters=_params(patch="string"),
    )

    async def run(self, arguments: dict[str, Any], context: ToolContext) -> str:
        # Abandoned on cancel: a timeout or /stop ends the turn's wait even if the thread is stuck.
        return await anyio.to_thread.run_sync(self._run, arguments, context, abandon_on_cancel=True)

    def _run(self, arguments: dict[str, Any], context: ToolContext) -> str:
        root = self._root(context)
        patch_text = _text_arg(arguments, "patch")
        if len(patch_text.encode("utf-8")) > self._max_bytes:
            raise ToolError(f"the patch is larger than {self._max_bytes} bytes")
        planned: list[tuple[Path, bytes | None]] = []
        for file_patch in parse_patch(patch_text):
            path = confine(root, file_patch.path)
            if file_patch.new_path is None:
                if not path.is_file():
                    raise ToolError(f"{relative(root, path)} cannot be deleted: it does not exist")
                planned.append((path, None))
                continue
            if file_patch.old_path is None and path.exists():
                raise ToolError(f"{relative(root, path)} already exists; the patch creates it")
            current = _read_text_whole(path, self._max_bytes) if file_patch.old_path is not None else ""
            updated = apply_hunks(current, file_patch).encode("utf-8")
            if len(updated) > self._max_bytes:
                raise ToolError(f"{relative(root, path)} would exceed {self._max_bytes} bytes")
            planned.append((path, updated))
        for path, data in planned:
            if data is None:
                path.unlink()
            else:
                _write_file(path, data)
        return "patched " + ", ".join(relative(root, path) for path, _ in planned)
