"""A turn where the model's `exec` call runs in a real podman container, and one against the real
llama.cpp server where the policy denies it and nothing runs.

The gateway is assembled in-process from the domain pieces and `build_tools`.

The allowed case is driven by llmock, scripted to call `exec` with a known command: what it tests
is the gateway's path from a call to a container and back, and a real model's arguments are not
deterministic (below). The denied case keeps the real server: the tool-forcing proxy makes the
tiny model call `exec` and also offers `exec` to it (the registry does not, since the policy denies
it), as a model that calls a tool it was never offered would; the policy refuses the call by its
name before the arguments are read, so what the model writes inside them cannot change the outcome.

Why a forced call's arguments from SmolLM2 were not JSON on a fresh CI machine (issue #18),
reproduced against llama-cpp-python 0.3.36's server as tests/fixtures/llm_servers.py starts it: the
grammar did hold, but the grammar llama-cpp-python builds from a tool's JSON schema lets a string
hold raw control characters and run on without end (``char ::= [^"\\] | ...``). The model began
``{ "command" : "exec -o stdout:stdout.usermode=0`` and then either closed the string (this
machine's build, greedy) or wrote newlines and prose into it until `max_tokens` (the failing run's
build, greedy; here 1 call in 6 at temperature 0.8). An earlier request (KV-cache prefix reuse) did not change the
greedy output here, and the proxy's `tool_choice` rewrite was applied each time. The fix is ours, in
tests/e2e/tool_forcing_proxy.py: a forced call's string arguments are limited to a bounded class of
printable characters, so its arguments are JSON whatever the model writes in them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio.from_thread import start_blocking_portal

from rustyclaw.adapters.audit.jsonl import JsonlAuditLog, read_audit
from rustyclaw.adapters.clock import SystemClock
from rustyclaw.adapters.http.asgi import Receive, Scope, Send
from rustyclaw.adapters.http.server import HttpServer
from rustyclaw.adapters.sandbox.docker_engine import DockerSandbox
from rustyclaw.adapters.sandbox.engine_client import EngineClient
from rustyclaw.adapters.storage.memory import MemoryStore
from rustyclaw.adapters.tokenizer import make_tokenizer
from rustyclaw.adapters.workspace.files import FolderWorkspace
from rustyclaw.config.loader import validate
from rustyclaw.domain.agent import AgentRunner
from rustyclaw.domain.builtin_tools import SessionStatusTool
from rustyclaw.domain.context import ContextBuilder
from rustyclaw.domain.gateway import Gateway
from rustyclaw.domain.messages import InboundMessage
from rustyclaw.domain.prompt import PromptBuilder
from rustyclaw.domain.sessions import SessionService
from rustyclaw.model_setup import ModelSetup
from rustyclaw.ports.sandbox import ExecResult, SandboxSpec
from rustyclaw.settings_map import agent_settings, session_settings
from rustyclaw.tools_setup import build_tools
from tests.fixtures.llm_servers import LLMockServer
from tests.fixtures.sandbox import BUSYBOX_IMAGE

from .tool_forcing_proxy import ToolForcingProxy

pytestmark = [pytest.mark.slow, pytest.mark.anyio]
EXEC_SPEC = {"type": "function", "function": {
    "name": "exec", "description": "Run a shell command.",
    "parameters": {"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]}}}


class ExposingProxy:
    """Offers `exec` to the model in every request while `expose` is set, then forwards."""

    def __init__(self, inner: ToolForcingProxy) -> None:
        self.inner = inner
        self.expose = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        if body and self.expose:
            payload = json.loads(body)
            tools = payload.setdefault("tools", [])
            if all(t["function"]["name"] != "exec" for t in tools):
                tools.append(EXEC_SPEC)
            body = json.dumps(payload).encode()
        delivered = False

        async def replay() -> dict[str, Any]:
            nonlocal delivered
            if delivered:
                await anyio.sleep_forever()
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.inner(scope, replay, send)


@pytest.fixture(scope="module")
def proxy(llama_server: str) -> Iterator[tuple[ExposingProxy, str]]:
    with start_blocking_portal() as portal:
        inner = ToolForcingProxy(llama_server)
        outer = ExposingProxy(inner)
        server = HttpServer(outer, "127.0.0.1", 0)

        async def serve(task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
            await server.serve(lambda: task_status.started())

        portal.start_task(serve)
        try:
            yield outer, f"{server.url}/v1"
        finally:
            portal.call(server.aclose)
            portal.call(inner.aclose)


class RecordingSandbox:
    """The real DockerSandbox, with every run recorded."""

    def __init__(self, real: DockerSandbox) -> None:
        self.real = real
        self.runs: list[tuple[str, str | list[str], ExecResult]] = []

    async def start(self) -> None:
        await self.real.start()

    async def aclose(self) -> None:
        await self.real.aclose()

    async def available(self) -> bool:
        return await self.real.available()

    async def run(self, scope_key: str, command: str | list[str], spec: SandboxSpec) -> ExecResult:
        result = await self.real.run(scope_key, command, spec)
        self.runs.append((scope_key, command, result))
        return result

    async def remove(self, scope_key: str) -> bool:
        return await self.real.remove(scope_key)

    async def prune(self, idle_seconds: float) -> int:
        return await self.real.prune(idle_seconds)


async def containers(url: str, prefix: str) -> list[dict[str, Any]]:
    engine = EngineClient(url)
    try:
        client = await engine.get()
        listed: list[dict[str, Any]] = await engine.call(
            client.api.containers, all=True, filters={"label": f"rustyclaw.sandbox={prefix}"})
        return listed
    finally:
        await engine.aclose()


async def run_turn(tmp_path: Path, base_url: str, model: str, sandbox: RecordingSandbox,
                   tools: dict[str, Any]) -> tuple[Any, Path]:
    state = tmp_path / "state"
    cfg = validate({
        "gateway": {"stateDir": str(state)},
        "agents": {"workspace": str(state / "workspace")},
        "llm": {"providers": {"llama": {"baseUrl": base_url, "timeoutSeconds": 300}},
                "routes": {"default": {"primary": f"llama/{model}"}}, "embedded": {"enabled": False},
                "contextTokens": 4096, "maxTokens": 64, "temperature": 0, "retry": {"attempts": 1}},
        "tools": tools,
        "sandbox": {"mode": "all", "scope": "session",
                    "docker": {"image": BUSYBOX_IMAGE, "memory": "64m", "pidsLimit": 64, "timeoutSeconds": 30}},
    }, "e2e.yaml", tmp_path)
    llm = await ModelSetup(cfg).build()
    await llm.start()
    store = MemoryStore()
    await store.start()
    clock = SystemClock()
    agents = agent_settings(cfg)
    sessions = SessionService(store, clock, session_settings(cfg))
    setup = build_tools(cfg, store=store, sessions_service=sessions, workspace_root=state / "workspace",
                        sandbox=sandbox, channels_send=None, audit=JsonlAuditLog.in_state_dir(state))
    setup.registry.register(SessionStatusTool(store, lambda e: e.model or llm.model_for("default")))
    runner = AgentRunner(llm, setup.registry, ContextBuilder(make_tokenizer("auto"), agents.pruning), clock,
                         context_tokens=agents.context_tokens, max_completion_tokens=agents.max_completion_tokens,
                         max_iterations=2, temperature=agents.temperature)
    prompts = PromptBuilder(FolderWorkspace(state / "workspace"), base_prompt=agents.system_prompt)
    gateway = Gateway(sessions, runner, prompts, llm, clock, agents, elevation=setup.policy)
    try:
        reply = await gateway.handle(InboundMessage(
            channel="web", peer_id="alice", sender_id="alice",
            text="Use the exec tool to run this shell command: echo hello-from-the-box"))
        entry = await store.get_session("agent:main:main")
        assert entry is not None
        stored = await store.load_messages(entry)
    finally:
        await setup.aclose()
        await llm.aclose()
        await store.aclose()
    assert reply is not None and reply.error is None, reply
    return stored, state / "audit" / "tools.jsonl"


async def test_an_allowed_exec_call_runs_in_a_container(
    tmp_path: Path, mock_llm: LLMockServer, docker_sandbox: DockerSandbox, sandbox_engine_url: str,
) -> None:
    mock_llm.call_tool("exec", {"command": "echo hello-from-the-box"}).reply("Done.")
    sandbox = RecordingSandbox(docker_sandbox)
    stored, audit = await run_turn(tmp_path, mock_llm.base_url, "scripted", sandbox, {"profile": "coding"})
    call = next(m for m in stored if m.role == "assistant" and m.tool_calls).tool_calls[0]
    assert call.name == "exec" and json.loads(call.arguments) == {"command": "echo hello-from-the-box"}
    [(scope_key, ran, result)] = sandbox.runs
    assert scope_key == "agent:main:main" and ran == "echo hello-from-the-box"
    assert (result.exit_code, result.stdout, result.timed_out) == (0, "hello-from-the-box\n", False)
    tool_message = next(m for m in stored if m.role == "tool")
    assert tool_message.tool_call_id == call.id
    assert tool_message.content == "exit 0\nhello-from-the-box"
    # the model got the container's output back as the tool result, then answered
    first, second = mock_llm.chat_bodies()
    assert "exec" in [t["function"]["name"] for t in first["tools"]]
    sent = second["messages"][-1]
    assert (sent["role"], sent["tool_call_id"], sent["content"]) == ("tool", call.id, tool_message.content)
    assert stored[-1].role == "assistant" and stored[-1].content == "Done."
    assert len(await containers(sandbox_engine_url, docker_sandbox.name_prefix)) == 1
    [record] = read_audit(audit)
    assert (record.tool, record.verdict, record.status, record.rule) == ("exec", "allow", "done", "profile coding")


@pytest.mark.llama
async def test_a_denied_exec_call_never_runs(
    tmp_path: Path, proxy: tuple[ExposingProxy, str], llama_model: str, docker_sandbox: DockerSandbox,
    sandbox_engine_url: str,
) -> None:
    outer, base_url = proxy
    outer.expose = True
    outer.inner.force_next = "exec"
    sandbox = RecordingSandbox(docker_sandbox)
    try:
        stored, audit = await run_turn(tmp_path, base_url, llama_model, sandbox, {"deny": ["group:runtime"]})
    finally:
        outer.expose = False
    first = next(r for r in reversed(outer.inner.requests) if r["messages"][-1]["role"] == "user")
    assert "exec" in [t["function"]["name"] for t in first["tools"]]  # offered by the proxy only
    call = next(m for m in stored if m.role == "assistant" and m.tool_calls).tool_calls[0]
    assert call.name == "exec"
    tool_message = next(m for m in stored if m.role == "tool")
    assert tool_message.content == "error: tool 'exec' is not allowed here (tools.deny: group:runtime)"
    assert sandbox.runs == []
    assert await containers(sandbox_engine_url, docker_sandbox.name_prefix) == []
    [record] = read_audit(audit)
    assert (record.verdict, record.status, record.rule) == ("deny", "denied", "tools.deny: group:runtime")
