"""`exec` through build_tools: in a real podman container when sandboxed, refused clearly otherwise,
on the host only with tools.exec.host and elevation; and the JSONL audit log of those calls."""

from __future__ import annotations

import socket
import uuid
from pathlib import Path
from typing import Any

import anyio
import pytest

from rustyclaw.adapters.audit.jsonl import JsonlAuditLog, read_audit
from rustyclaw.adapters.sandbox.docker_engine import DockerSandbox
from rustyclaw.adapters.storage.memory import MemoryStore
from rustyclaw.adapters.tools.exec import ExecTool
from rustyclaw.config.loader import validate
from rustyclaw.domain.errors import ToolError
from rustyclaw.domain.messages import ToolCall
from rustyclaw.domain.sessions import SessionService
from rustyclaw.domain.settings import SessionSettings
from rustyclaw.ports.sandbox import Sandbox
from rustyclaw.ports.tools import ToolContext
from rustyclaw.tools_setup import ToolSetup, build_tools
from tests.fixtures.sandbox import BUSYBOX_IMAGE
from tests.unit.fakes import FakeClock

pytestmark = pytest.mark.anyio
MAIN = ToolContext(agent_id="main", session_key="agent:main:main", session_id="s", channel="telegram",
                   sender_id="42")
OTHER = ToolContext(agent_id="main", session_key="agent:main:telegram:group:9", session_id="t",
                    channel="telegram", sender_id="42")


def config(tmp_path: Path, mode: str, **tools: Any) -> Any:
    return validate({
        "agents": {"workspace": str(tmp_path / "ws")},
        "tools": {"elevated": {"enabled": True, "allowFrom": {"telegram": ["42"]}}, **tools},
        "sandbox": {"mode": mode, "workspaceAccess": "ro", "docker": {
            "image": BUSYBOX_IMAGE, "memory": "64m", "pidsLimit": 64, "timeoutSeconds": 20,
            "maxOutputBytes": 2000}},
    }, "test.yaml", tmp_path)


async def setup(tmp_path: Path, cfg: Any, sandbox: Sandbox | None, audit: JsonlAuditLog | None = None) -> ToolSetup:
    store = MemoryStore()
    await store.start()
    (tmp_path / "ws").mkdir(exist_ok=True)
    (tmp_path / "ws" / "notes.txt").write_text("from the workspace\n")
    return build_tools(cfg, store=store, sessions_service=SessionService(store, FakeClock(), SessionSettings()),
                       workspace_root=tmp_path / "ws", sandbox=sandbox, channels_send=None, audit=audit)


def call(command: str) -> ToolCall:
    return ToolCall(id=uuid.uuid4().hex[:8], name="exec", arguments=f'{{"command": "{command}"}}')


@pytest.mark.slow
async def test_exec_runs_in_the_container_for_a_sandboxed_session(
    tmp_path: Path, docker_sandbox: DockerSandbox
) -> None:
    audit = JsonlAuditLog.in_state_dir(tmp_path / "state")
    tools = await setup(tmp_path, config(tmp_path, "all"), docker_sandbox, audit)
    outcome = await tools.registry.execute(call("id -u; cat /workspace/notes.txt; hostname"), MAIN)
    assert outcome.status == "done", outcome.content
    lines = outcome.content.splitlines()
    assert lines[:3] == ["exit 0", "1000", "from the workspace"]
    # it really ran in a container, not on this host
    assert lines[3] != socket.gethostname()
    failing = await tools.registry.execute(call("echo oops >&2; exit 3"), MAIN)
    assert failing.content == "exit 3\n[stderr]\noops"
    await tools.aclose()
    records = read_audit(tmp_path / "state" / "audit" / "tools.jsonl")
    assert [(r.tool, r.verdict, r.status, r.rule) for r in records] == [("exec", "allow", "done", "profile full")] * 2
    assert records[0].session == "agent:main:main" and "id -u" in records[0].arguments


@pytest.mark.slow
async def test_non_main_mode_sandboxes_other_sessions_and_keeps_main_off_the_host(
    tmp_path: Path, docker_sandbox: DockerSandbox
) -> None:
    tools = await setup(tmp_path, config(tmp_path, "non-main"), docker_sandbox)
    ran = await tools.registry.execute(call("echo in-box"), OTHER)
    assert ran.status == "done" and ran.content == "exit 0\nin-box"
    refused = await tools.registry.execute(call("echo on-host"), MAIN)
    assert refused.status == "denied" and "tools.exec.host is false" in refused.content
    assert "exec" not in [s.name for s in tools.registry.specs(MAIN)]
    assert "exec" in [s.name for s in tools.registry.specs(OTHER)]
    await tools.aclose()


async def test_a_sandboxed_session_refuses_when_no_engine_answers(tmp_path: Path) -> None:
    dead = DockerSandbox(f"unix://{tmp_path}/no-engine.sock")
    await dead.start()
    tools = await setup(tmp_path, config(tmp_path, "all"), dead)
    outcome = await tools.registry.execute(call("echo hi"), MAIN)
    assert outcome.status == "error" and "no container engine answers" in outcome.content
    await dead.aclose()
    unwired = await setup(tmp_path, config(tmp_path, "all"), None)
    outcome = await unwired.registry.execute(call("echo hi"), MAIN)
    assert outcome.status == "error" and "none is configured" in outcome.content


async def test_host_exec_needs_tools_exec_host_and_elevation(tmp_path: Path) -> None:
    tools = await setup(tmp_path, config(tmp_path, "off", exec={"host": True}), None)
    plain = await tools.registry.execute(call("pwd"), MAIN)
    assert plain.status == "denied" and "needs /elevated on" in plain.content
    elevated = ToolContext(**{**{f: getattr(MAIN, f) for f in MAIN.__struct_fields__}, "elevated": True})
    outcome = await tools.registry.execute(call("pwd; cat notes.txt"), elevated)
    assert outcome.status == "done"
    assert outcome.content == f"exit 0\n{(tmp_path / 'ws').resolve()}\nfrom the workspace"
    stranger = ToolContext(**{**{f: getattr(elevated, f) for f in MAIN.__struct_fields__}, "sender_id": "7"})
    denied = await tools.registry.execute(call("pwd"), stranger)
    assert denied.status == "denied" and "not in tools.elevated.allowFrom.telegram" in denied.content


async def test_host_exec_tool_checks_again_caps_output_and_kills_at_the_timeout(tmp_path: Path) -> None:
    (tmp_path / "ws").mkdir()

    def workspace_of(agent: str) -> Path:
        return tmp_path / "ws"

    def never(agent: str) -> Any:
        raise AssertionError("no sandbox spec is needed on the host")

    def tool(host: bool, seconds: float = 20.0) -> ExecTool:
        return ExecTool(sandbox=None, spec_for=never, mode="off", scope="session", main_key="main",
                        host_allowed=host, workspace_of=workspace_of, host_timeout=seconds, max_output_bytes=100)

    elevated = ToolContext(**{**{f: getattr(MAIN, f) for f in MAIN.__struct_fields__}, "elevated": True})
    with pytest.raises(ToolError, match=r"tools.exec.host: false"):
        await tool(False).run({"command": "echo hi"}, elevated)
    with pytest.raises(ToolError, match="needs elevated mode"):
        await tool(True).run({"command": "echo hi"}, MAIN)
    big = await tool(True).run({"command": "yes | head -c 100000"}, elevated)
    assert big.startswith("exit 0\ny\ny") and big.endswith("[... 99900 bytes truncated]")
    marker, pids = tmp_path / "ws" / "after-timeout", tmp_path / "ws" / "pids"
    slow = await tool(True, 0.5).run(
        {"command": f"echo $$ > {pids}; (sleep 30; touch {marker}) & echo $! >> {pids}; sleep 30; touch {marker}"},
        elevated)
    assert slow.startswith("timed out (killed)")
    # The whole process group was killed: the shell and its background child are gone (waited for
    # as a condition, not a fixed sleep), so nothing is left that could touch the file.
    for pid in (int(line) for line in pids.read_text().split()):
        with anyio.fail_after(30):
            while _alive(pid):  # noqa: ASYNC110 - a process ending elsewhere sends no event here
                await anyio.sleep(0.02)
    assert not marker.exists()
    with pytest.raises(ToolError, match="non-empty string"):
        await tool(True).run({"command": ""}, elevated)


def _alive(pid: int) -> bool:
    """Whether `pid` is a live process (a zombie waiting to be reaped counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
