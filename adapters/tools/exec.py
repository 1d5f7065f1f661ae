"""`exec`: a shell command in the session's sandbox container, or on the host when allowed.

Where it runs follows `sandbox.mode` (off | non-main | all). A sandboxed session never falls back
to the host: with no engine answering, the call is refused. A session left on the host runs only
with `tools.exec.host: true` and elevated mode (the policy gate checks both; the tool checks again).
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
from anyio.abc import ByteReceiveStream

from rustyclaw.adapters.tools.paths import WorkspaceOf, workspace_root
from rustyclaw.domain.errors import SandboxError, SandboxUnavailableError, ToolError
from rustyclaw.domain.policy import session_sandboxed
from rustyclaw.ports.llm import ToolSpec
from rustyclaw.ports.sandbox import ExecResult, Sandbox, SandboxSpec, sandbox_scope_key
from rustyclaw.ports.tools import ToolContext

MAX_COMMAND_CHARS = 16_000


def format_result(result: ExecResult) -> str:
    """The text the model sees: exit status, stdout, and stderr when there is any."""
    if result.timed_out:
        head = "timed out (killed)"
    elif result.oom_killed:
        head = "killed (out of memory?)"
    else:
        head = f"exit {result.exit_code}"
    parts = [head]
    if result.stdout:
        parts.append(result.stdout.rstrip("\n"))
    if result.stderr:
        parts.append("[stderr]\n" + result.stderr.rstrip("\n"))
    return "\n".join(parts)


class ExecTool:
    """`exec`: see the module docstring for where a command runs."""

    spec = ToolSpec(
        name="exec", description="Run a shell command.",
        parameters={"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]},
    )

    def __init__(
        self,
        *,
        sandbox: Sandbox | None,
        spec_for: Callable[[str], SandboxSpec],
        mode: str,
        scope: str,
        main_key: str,
        host_allowed: bool,
        workspace_of: WorkspaceOf,
        host_timeout: float = 60.0,
        max_output_bytes: int = 65536,
        mode_of: Callable[[str], str] | None = None,
        scope_of: Callable[[str], str] | None = None,
    ) -> None:
        self._sandbox = sandbox
        # agents.list[].sandbox.mode / .scope: an agent's own (None: `mode` / `scope` for every agent).
        self._mode_of = mode_of
        self._scope_of = scope_of
        self._spec_for = spec_for
        self._mode = mode
        self._scope = scope
        self._main_key = main_key
        self._host_allowed = host_allowed
        self._workspace_of = workspace_of
        self._host_timeout = host_timeout
        self._max_output = max_output_bytes

    async def run(self, arguments: dict[str, Any], context: ToolContext) -> str:
        command = arguments.get("command")
        if not isinstance(command, str) or not command.strip():
            raise ToolError("'command' must be a non-empty string")
        if len(command) > MAX_COMMAND_CHARS:
            raise ToolError(f"the command is longer than {MAX_COMMAND_CHARS} characters")
        main = f"agent:{context.agent_id}:{self._main_key}"
        mode = self._mode_of(context.agent_id) if self._mode_of is not None else self._mode
        if session_sandboxed(mode, context.session_key, main):
            return format_result(await self._in_sandbox(command, context))
        if not self._host_allowed:
            raise ToolError(
                f"exec refused: this session is not sandboxed (sandbox.mode: {mode}) and running "
                "commands on the host is disabled (tools.exec.host: false)"
            )
        if not context.elevated:
            raise ToolError("exec on the host needs elevated mode: ask an allowed sender to send /elevated on")
        cwd = workspace_root(self._workspace_of(context.agent_id))
        return format_result(await run_on_host(command, cwd, self._host_timeout, self._max_output))

    async def _in_sandbox(self, command: str, context: ToolContext) -> ExecResult:
        if self._sandbox is None:
            raise ToolError("exec refused: this session must run commands in the sandbox, and none is configured")
        scope = self._scope_of(context.agent_id) if self._scope_of is not None else self._scope
        key = sandbox_scope_key(scope, context.agent_id, context.session_key)
        try:
            return await self._sandbox.run(key, command, self._spec_for(context.agent_id))
        except SandboxUnavailableError as exc:
            raise ToolError(
                f"exec refused: this session runs commands in the sandbox and no container engine answers ({exc})"
            ) from exc
        except SandboxError as exc:
            raise ToolError(f"sandbox error: {exc}") from exc


async def _drain(stream: ByteReceiveStream | None, limit: int, sink: list[bytes]) -> int:
    """Keeps the first `limit` bytes; reads (and counts) the rest so the child never blocks."""
    if stream is None:
        return 0
    kept = total = 0
    async for chunk in stream:
        total += len(chunk)
        if kept < limit:
            piece = chunk[: limit - kept]
            sink.append(piece)
            kept += len(piece)
    return total - kept


def _capped(parts: list[bytes], dropped: int) -> tuple[str, bool]:
    text = b"".join(parts).decode("utf-8", errors="replace")
    if dropped:
        text += f"\n[... {dropped} bytes truncated]"
    return text, bool(dropped)


async def run_on_host(command: str, cwd: Path, seconds: float, max_output: int) -> ExecResult:
    """`sh -c command` in its own process group, killed whole at the timeout; outputs capped."""
    started = time.monotonic()
    out: list[bytes] = []
    err: list[bytes] = []
    dropped = [0, 0]
    timed_out = False
    process = await anyio.open_process(
        ["sh", "-c", command], cwd=cwd, stdin=None, start_new_session=True,
        env={**os.environ, "PWD": str(cwd)},
    )
    async with process:
        with anyio.move_on_after(seconds) as scope:
            async with anyio.create_task_group() as tg:
                async def pump(index: int, stream: ByteReceiveStream | None, sink: list[bytes]) -> None:
                    dropped[index] = await _drain(stream, max_output, sink)

                tg.start_soon(pump, 0, process.stdout, out)
                tg.start_soon(pump, 1, process.stderr, err)
            await process.wait()
        if scope.cancelled_caught:
            timed_out = True
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            with anyio.CancelScope(shield=True):
                await process.wait()
    stdout, out_cut = _capped(out, dropped[0])
    stderr, err_cut = _capped(err, dropped[1])
    return ExecResult(
        exit_code=process.returncode if process.returncode is not None else -1, stdout=stdout, stderr=stderr,
        timed_out=timed_out, stdout_truncated=out_cut, stderr_truncated=err_cut,
        duration=time.monotonic() - started,
    )
