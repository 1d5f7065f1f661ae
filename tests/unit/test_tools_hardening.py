"""File tools refuse hard links and special files on real files; every tool call has a timeout that
`/stop` (cancellation) also ends, through the real ToolRegistry."""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path
from typing import Any

import anyio
import pytest

from rustyclaw.adapters.tools.fs import ApplyPatchTool, EditTool, ReadTool, WriteTool
from rustyclaw.domain.errors import ToolError
from rustyclaw.domain.messages import ToolCall
from rustyclaw.domain.tools import DEFAULT_TOOL_TIMEOUT_SECONDS, ToolRegistry
from rustyclaw.ports.llm import ToolSpec
from rustyclaw.ports.tools import ToolContext

pytestmark = pytest.mark.anyio
CTX = ToolContext(agent_id="main", session_key="agent:main:main", session_id="s", channel="web", sender_id="u")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    (tmp_path / "outside.txt").write_text("OUTSIDE ORIGINAL")
    return root


def file_tools(ws: Path) -> tuple[ReadTool, WriteTool, EditTool, ApplyPatchTool]:
    def of(agent: str) -> Path:
        return ws

    return ReadTool(of), WriteTool(of), EditTool(of), ApplyPatchTool(of)


async def test_a_hard_link_to_an_outside_file_is_neither_read_nor_written(ws: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    os.link(outside, ws / "link.txt")
    read, write, edit, patch = file_tools(ws)
    with pytest.raises(ToolError, match="hard links"):
        await read.run({"path": "link.txt"}, CTX)
    with pytest.raises(ToolError, match="hard links"):
        await write.run({"path": "link.txt", "content": "overwritten"}, CTX)
    with pytest.raises(ToolError, match="hard links"):
        await edit.run({"path": "link.txt", "old": "ORIGINAL", "new": "changed"}, CTX)
    diff = "--- a/link.txt\n+++ b/link.txt\n@@ -1 +1 @@\n-OUTSIDE ORIGINAL\n+patched\n"
    with pytest.raises(ToolError, match="hard links"):
        await patch.run({"patch": diff}, CTX)
    assert outside.read_text() == "OUTSIDE ORIGINAL"  # not truncated by the refused write either


async def test_a_named_pipe_is_refused_at_once_instead_of_blocking(ws: Path) -> None:
    os.mkfifo(ws / "pipe")
    read, write, edit, _ = file_tools(ws)
    # No writer ever opens the pipe: a blocking open would hang this test (pytest-timeout fails it).
    with pytest.raises(ToolError, match="named pipe"):
        await read.run({"path": "pipe"}, CTX)
    with pytest.raises(ToolError, match=r"named pipe|cannot open"):
        await write.run({"path": "pipe", "content": "x"}, CTX)
    with pytest.raises(ToolError, match="named pipe"):
        await edit.run({"path": "pipe", "old": "a", "new": "b"}, CTX)


async def test_devices_and_sockets_are_refused(ws: Path) -> None:
    os.symlink("/dev/zero", ws / "zero")  # a symlink out is refused by confinement already
    read, _, _, _ = file_tools(ws)
    with pytest.raises(ToolError, match="outside"):
        await read.run({"path": "zero"}, CTX)
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(ws / "sock"))
        with pytest.raises(ToolError, match=r"socket|cannot open"):
            await read.run({"path": "sock"}, CTX)


async def test_regular_files_still_work(ws: Path) -> None:
    read, write, edit, _ = file_tools(ws)
    assert await write.run({"path": "a.txt", "content": "one two"}, CTX) == "wrote 7 bytes to a.txt"
    assert await write.run({"path": "a.txt", "content": "one"}, CTX) == "wrote 3 bytes to a.txt"
    assert await edit.run({"path": "a.txt", "old": "one", "new": "three"}, CTX) == "edited a.txt"
    assert await read.run({"path": "a.txt"}, CTX) == "three"


class _Blocking:
    """A tool stuck in a thread (like a read that never returns) until the test releases it."""

    spec = ToolSpec(name="stuck", description="never returns", parameters={"type": "object"})

    def __init__(self) -> None:
        self.release = threading.Event()
        self.entered = anyio.Event()

    async def run(self, arguments: dict[str, Any], context: ToolContext) -> str:
        self.entered.set()
        await anyio.to_thread.run_sync(self.release.wait, abandon_on_cancel=True)
        return "finished"


class _Quick:
    spec = ToolSpec(name="quick", description="returns", parameters={"type": "object"})

    async def run(self, arguments: dict[str, Any], context: ToolContext) -> str:
        return "ok"


async def test_a_tool_past_its_timeout_is_stopped_with_an_error_the_model_sees() -> None:
    stuck = _Blocking()
    registry = ToolRegistry([stuck, _Quick()])
    assert registry.timeout_for("stuck") == DEFAULT_TOOL_TIMEOUT_SECONDS
    registry.set_timeouts(600, {"stuck": 0.05})
    try:
        outcome = await registry.execute(ToolCall(id="c1", name="stuck"), CTX)
    finally:
        stuck.release.set()
    assert outcome.status == "error"
    assert "did not finish within 0.05 s" in outcome.content
    assert registry.timeout_for("quick") == 600
    assert (await registry.execute(ToolCall(id="c2", name="quick"), CTX)).content == "ok"


async def test_stop_cancels_a_stuck_tool_call() -> None:
    stuck = _Blocking()
    registry = ToolRegistry([stuck])
    done = anyio.Event()
    try:
        async with anyio.create_task_group() as group:
            scope = anyio.CancelScope()  # what sessions.running() hands to /stop

            async def turn() -> None:
                with scope:
                    await registry.execute(ToolCall(id="c1", name="stuck"), CTX)
                done.set()

            group.start_soon(turn)
            await stuck.entered.wait()
            scope.cancel()
            await done.wait()
    finally:
        stuck.release.set()
    assert scope.cancelled_caught


async def test_the_core_takes_the_timeouts_from_the_config(tmp_path: Path) -> None:
    from rustyclaw.app import bootstrap
    from rustyclaw.settings import load_settings
    from tests.unit.fakes import ScriptedLLM

    config = tmp_path / "config.yaml"
    config.write_text(f"gateway: {{stateDir: {tmp_path}}}\nagents: {{workspace: {tmp_path / 'ws'}}}\n"
                      "llm: {embedded: {enabled: false}}\n"
                      "tools: {timeoutSeconds: 45, timeouts: {read: 5}}\n", encoding="utf-8")
    settings = load_settings(config, env={"RUSTYCLAW_HOME": str(tmp_path)})
    async with bootstrap(settings, "core", llm=ScriptedLLM()) as root:
        assert root.tool_setup is not None
        registry = root.tool_setup.registry
        assert (registry.timeout_for("read"), registry.timeout_for("write")) == (5, 45)
