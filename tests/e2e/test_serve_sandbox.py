"""`rustyclaw serve` with `sandbox.mode: all`: the composition root wires the Docker-API sandbox, so
the real model's `exec` call runs in a podman container, and the decision is audited."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from rustyclaw.adapters.audit.jsonl import read_audit
from tests.e2e.conftest import RunningProxy

from .gateway_process import GatewayProcess, write_config

pytestmark = [pytest.mark.llama, pytest.mark.slow]


def test_exec_runs_in_a_container_through_serve(
    tmp_path: Path, forcing_proxy: RunningProxy, llama_model: str, sandbox_engine_url: str
) -> None:
    state = tmp_path / "state"
    config = write_config(tmp_path / "rustyclaw.yaml", state, forcing_proxy.url, llama_model,
                          sandbox={"mode": "all", "docker": {"baseUrl": sandbox_engine_url}})
    gateway = GatewayProcess(config, tmp_path).start(timeout=30)
    try:
        forcing_proxy.proxy.force_next = "exec"
        seen = len(forcing_proxy.proxy.requests)
        response = httpx.post(
            f"{gateway.url}/api/chat", timeout=300,
            json={"message": "Use the exec tool to run this shell command: echo hello-from-the-box"},
        )
        assert response.status_code == 200, response.text
        turn = forcing_proxy.proxy.requests[seen:]
        assert "exec" in [t["function"]["name"] for t in turn[0]["tools"]]
        result = turn[1]["messages"][-1]
        assert result["role"] == "tool" and not result["content"].startswith("error:"), result
    finally:
        assert gateway.stop() == 0, gateway.log()
    [record] = [r for r in read_audit(state / "audit" / "tools.jsonl") if r.tool == "exec"]
    assert (record.verdict, record.status) == ("allow", "done")
