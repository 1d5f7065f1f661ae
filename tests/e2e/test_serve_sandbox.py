"""`rustyclaw serve` with `sandbox.mode: all`: the composition root wires the Docker-API sandbox, so
a model's `exec` call runs in a podman container, its output goes back to the model as the tool
result, and the decision is audited.

The model here is llmock, scripted to call `exec` with a known command: what is under test is
serve's path from a tool call to a container and back, not whether the 135M SmolLM2 model writes
valid arguments (it does not reliably: see tests/e2e/test_tools_llama.py). The real llama.cpp round
trip through serve has its own tests (tests/e2e/test_serve_llama.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from rustyclaw.adapters.audit.jsonl import read_audit
from rustyclaw.adapters.sandbox.container_options import LABEL_INSTANCE, LABEL_SCOPE
from rustyclaw.adapters.sandbox.engine_client import EngineClient
from tests.fixtures.llm_servers import LLMockServer
from tests.fixtures.sandbox import BUSYBOX_IMAGE

from .gateway_process import GatewayProcess, write_config

pytestmark = [pytest.mark.slow]

# `hostname` prints the container's id (podman names a container's host after it): the proof that
# the command ran in a container, and which one.
COMMAND = "echo hello-from-the-box; hostname"


async def _inspect_and_remove(url: str, container_id: str) -> dict[str, Any]:
    engine = EngineClient(url)
    try:
        client = await engine.get()
        info: dict[str, Any] = await engine.call(client.api.inspect_container, container_id)
        await engine.call(client.api.remove_container, container_id, force=True)
        return info
    finally:
        await engine.aclose()


def test_exec_runs_in_a_container_through_serve(
    tmp_path: Path, mock_llm: LLMockServer, sandbox_engine_url: str
) -> None:
    mock_llm.call_tool("exec", {"command": COMMAND}).reply("The box said hello.")
    state = tmp_path / "state"
    config = write_config(tmp_path / "rustyclaw.yaml", state, mock_llm.base_url, "scripted",
                          # A container of this session's own: no other test or run shares (or removes) it.
                          sandbox={"mode": "all", "scope": "session",
                                   "docker": {"baseUrl": sandbox_engine_url, "image": BUSYBOX_IMAGE,
                                              "memory": "64m", "timeoutSeconds": 30}})
    gateway = GatewayProcess(config, tmp_path).start(timeout=30)
    try:
        response = httpx.post(f"{gateway.url}/api/chat", timeout=120,
                              json={"message": f"Use the exec tool to run: {COMMAND}"})
        assert response.status_code == 200, response.text
        answer = response.json()
    finally:
        assert gateway.stop() == 0, gateway.log()
    assert answer["reply"] == "The box said hello." and answer["finish_reason"] == "stop", answer

    first, second = mock_llm.chat_bodies()
    assert "exec" in [t["function"]["name"] for t in first["tools"]]
    call = second["messages"][-2]["tool_calls"][0]
    result = second["messages"][-1]
    assert call["function"]["name"] == "exec" and result["role"] == "tool" and result["tool_call_id"] == call["id"]
    status, echoed, host = result["content"].split("\n")
    assert (status, echoed) == ("exit 0", "hello-from-the-box"), result

    info = anyio.run(_inspect_and_remove, sandbox_engine_url, host)
    assert info["Id"].startswith(host)
    labels = info["Config"]["Labels"]
    assert labels[LABEL_INSTANCE] == "rustyclaw-sbx" and answer["session"] in labels[LABEL_SCOPE], labels
    assert BUSYBOX_IMAGE.split(":")[0] in info["Config"]["Image"], info["Config"]["Image"]
    assert info["HostConfig"]["NetworkMode"] == "none"

    [record] = [r for r in read_audit(state / "audit" / "tools.jsonl") if r.tool == "exec"]
    assert (record.verdict, record.status) == ("allow", "done")
