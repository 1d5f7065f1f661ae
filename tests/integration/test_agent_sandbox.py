"""Per-agent sandbox settings (OpenClaw's agents.list[].sandbox: mode, scope, workspaceAccess,
docker.image, docker.network) through build_tools, and what config validate and doctor say when
only an agent turns the sandbox on."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from rustyclaw.adapters.sandbox.docker_engine import DockerSandbox
from rustyclaw.adapters.storage.memory import MemoryStore
from rustyclaw.checks import check_sandbox
from rustyclaw.config.loader import validate
from rustyclaw.domain.errors import ConfigError
from rustyclaw.domain.messages import ToolCall
from rustyclaw.domain.sessions import SessionService
from rustyclaw.domain.settings import SessionSettings
from rustyclaw.ports.sandbox import ExecResult, Sandbox, SandboxSpec
from rustyclaw.ports.tools import ToolContext
from rustyclaw.tools_setup import ToolSetup, build_tools
from tests.fixtures.sandbox import BUSYBOX_IMAGE
from tests.unit.fakes import FakeClock

pytestmark = pytest.mark.anyio


class SpecRecorder:
    """A Sandbox that runs nothing and keeps each (scope key, spec) it was asked to run with."""

    def __init__(self) -> None:
        self.runs: list[tuple[str, SandboxSpec]] = []

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        return None

    async def available(self) -> bool:
        return True

    async def run(self, scope_key: str, command: str | list[str], spec: SandboxSpec) -> ExecResult:
        self.runs.append((scope_key, spec))
        return ExecResult(exit_code=0, stdout="ran\n", stderr="")

    async def remove(self, scope_key: str) -> bool:
        return False

    async def prune(self, idle_seconds: float) -> int:
        return 0


def config(tmp_path: Path, agents: list[dict[str, Any]], shared: dict[str, Any] | None = None) -> Any:
    for agent in agents:
        if "workspace" in agent:
            Path(agent["workspace"]).mkdir(parents=True, exist_ok=True)
    return validate({
        "agents": {"workspace": str(tmp_path / "ws"), "list": agents},
        "tools": {"profile": "coding"},
        "sandbox": {"mode": "off", "scope": "agent", "workspaceAccess": "none", **(shared or {}), "docker": {
            "image": BUSYBOX_IMAGE, "memory": "64m", "pidsLimit": 64, "timeoutSeconds": 20}},
    }, "test.yaml", tmp_path)


async def tools_for(tmp_path: Path, cfg: Any, sandbox: Sandbox) -> ToolSetup:
    store = MemoryStore()
    await store.start()
    return build_tools(cfg, store=store, sessions_service=SessionService(store, FakeClock(), SessionSettings()),
                       workspace_root=tmp_path / "ws", sandbox=sandbox, channels_send=None, audit=None)


def context(agent: str, session: str = "main") -> ToolContext:
    return ToolContext(agent_id=agent, session_key=f"agent:{agent}:{session}", session_id="s",
                       channel="telegram", sender_id="42")


def call(command: str) -> ToolCall:
    return ToolCall(id=uuid.uuid4().hex[:8], name="exec", arguments=f'{{"command": "{command}"}}')


async def test_each_agent_runs_with_its_own_scope_workspace_image_and_network(tmp_path: Path) -> None:
    cfg = config(tmp_path, [
        {"id": "web", "workspace": str(tmp_path / "web"),
         "sandbox": {"mode": "all", "docker": {"image": "python:3.12-slim", "network": "bridge"}}},
        {"id": "edit", "workspace": str(tmp_path / "edit"),
         "sandbox": {"mode": "all", "scope": "session", "workspaceAccess": "rw"}},
        {"id": "plain", "workspace": str(tmp_path / "plain"), "sandbox": {"mode": "all"}},
    ])
    recorder = SpecRecorder()
    tools = await tools_for(tmp_path, cfg, recorder)
    for agent, session in (("web", "main"), ("edit", "telegram:group:1"), ("plain", "main")):
        outcome = await tools.registry.execute(call("true"), context(agent, session))
        assert outcome.status == "done", outcome.content
    (web_key, web), (edit_key, edit), (plain_key, plain) = recorder.runs
    assert (web_key, web.image, web.network, web.workspace) == ("agent:web", "python:3.12-slim", "bridge", None)
    assert (edit_key, edit.image, edit.network) == ("agent:edit:telegram:group:1", BUSYBOX_IMAGE, "none")
    assert (edit.workspace, edit.workspace_access) == (str(tmp_path / "edit"), "rw")
    # Unset fields keep the shared sandbox settings.
    assert (plain_key, plain.image, plain.network, plain.workspace) == ("agent:plain", BUSYBOX_IMAGE, "none", None)


@pytest.mark.slow
async def test_an_agents_own_workspace_access_in_a_real_container(
    tmp_path: Path, docker_sandbox: DockerSandbox,
) -> None:
    cfg = config(tmp_path, [{"id": "edit", "workspace": str(tmp_path / "edit"),
                             "sandbox": {"mode": "all", "workspaceAccess": "rw"}}])
    (tmp_path / "edit").chmod(0o777)  # the sandbox user (1000) must be able to write when mounted rw
    tools = await tools_for(tmp_path, cfg, docker_sandbox)
    outcome = await tools.registry.execute(call("echo written-in-the-box > /workspace/out.txt"), context("edit"))
    assert outcome.status == "done" and outcome.content.startswith("exit 0"), outcome.content
    assert (tmp_path / "edit" / "out.txt").read_text() == "written-in-the-box\n"


def test_config_validate_checks_a_sandbox_that_only_an_agent_turns_on(tmp_path: Path) -> None:
    assert check_sandbox(config(tmp_path, [{"id": "a"}])) == []
    # scope 'shared' is one container for every agent: an agent's own image could not apply.
    shared = config(tmp_path, [{"id": "a", "sandbox": {"mode": "all", "docker": {"image": "other:1"}}}],
                    {"scope": "shared"})
    assert check_sandbox(shared) == [(
        "agents.list.0.sandbox", "agent 'a' sets its own docker or workspaceAccess, but scope 'shared' runs one "
        "container for every agent; use scope 'agent' or 'session' for it")]
    own_scope = config(tmp_path, [{"id": "a", "sandbox": {"mode": "all", "scope": "agent", "docker": {"image": "o"}}}],
                       {"scope": "shared"})
    assert check_sandbox(own_scope) == []
    with pytest.raises(ConfigError, match="network 'host' is refused"):
        config(tmp_path, [{"id": "a", "sandbox": {"docker": {"network": "host"}}}])


async def test_doctor_says_which_agents_use_the_sandbox_when_the_shared_mode_is_off(
    tmp_path: Path, sandbox_engine_url: str,
) -> None:
    from rustyclaw.cli_doctor import _sandbox

    cfg = validate({"agents": {"workspace": str(tmp_path / "ws"), "list": [{"id": "box", "sandbox": {"mode": "all"}}]},
                    "sandbox": {"mode": "off", "docker": {"image": BUSYBOX_IMAGE, "baseUrl": sandbox_engine_url}}},
                   "test.yaml", tmp_path)
    rows = await _sandbox(cfg)
    assert rows[0].status == "info" and "agents box run exec in containers" in rows[0].detail
    assert [r.status for r in rows[1:]] and all(r.status == "ok" for r in rows[1:]), rows
