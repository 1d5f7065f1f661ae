"""`rustyclaw serve` against a model whose tool call is broken (llmock, scripted): arguments that are
not JSON, or JSON that is not an object. The gateway runs nothing, reports the error to the model as
the call's tool result, the model answers, and the turn completes; the process keeps serving.

This is what a small real model does now and then (issue #18: SmolLM2 wrote prose and raw newlines
into a forced call's arguments); here it is scripted, so it happens every time.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from rustyclaw.adapters.audit.jsonl import read_audit
from tests.fixtures.llm_servers import CHAT_PATH, LLMockServer

from .gateway_process import GatewayProcess, write_config

pytestmark = [pytest.mark.slow]

SORRY = "Sorry, that call was broken."


def _chat_completion(url: str, text: str, *, stream: bool) -> str:
    """One turn through the OpenAI-compatible endpoint; the assistant's text."""
    body = {"model": "rustyclaw/main", "user": "alice", "stream": stream,
            "messages": [{"role": "user", "content": text}]}
    if not stream:
        response = httpx.post(f"{url}/v1/chat/completions", json=body, timeout=60)
        assert response.status_code == 200, response.text
        choice = response.json()["choices"][0]
        assert choice["finish_reason"] == "stop", choice
        return str(choice["message"]["content"])
    with httpx.stream("POST", f"{url}/v1/chat/completions", json=body, timeout=60) as response:
        assert response.status_code == 200
        data = [line[6:] for line in response.iter_lines() if line.startswith("data: ")]
    assert data[-1] == "[DONE]"
    chunks = [json.loads(d) for d in data[:-1]]
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop", chunks[-1]
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
@pytest.mark.parametrize(("fault", "reported"), [
    ({"type": "tool_fault", "kind": "malformed_arguments"}, "error: arguments are not valid JSON ("),
    (None, "error: arguments must be a JSON object"),
], ids=["malformed-json", "not-an-object"])
def test_broken_tool_arguments_are_reported_to_the_model_and_the_turn_completes(
    tmp_path: Path, mock_llm: LLMockServer, fault: dict[str, Any] | None, reported: str, stream: bool
) -> None:
    workspace = tmp_path / "state" / "workspace"
    workspace.mkdir(parents=True)
    (workspace / "notes.txt").write_text("secret plans\n")
    if fault is None:
        # A JSON string where an object belongs: llmock sends `arguments` as json.dumps of this.
        mock_llm.scenario({"type": "reply", "tool_calls": [{"name": "read", "arguments": "notes.txt"}],
                           "match": {"path": CHAT_PATH}})
    else:
        # The call's arguments are cut in half by llmock: `{"path": "no` is not JSON.
        mock_llm.call_tool("read", {"path": "notes.txt"}).scenario(fault)
    mock_llm.reply(SORRY).reply("Still here.")
    config = write_config(tmp_path / "rustyclaw.yaml", tmp_path / "state", mock_llm.base_url, "scripted")
    gateway = GatewayProcess(config, tmp_path).start(timeout=30)
    try:
        assert _chat_completion(gateway.url, "Read notes.txt", stream=stream) == SORRY
        # the process is unharmed: it answers its health check and the next turn of the same session
        assert httpx.get(f"{gateway.url}/healthz", timeout=10).status_code == 200
        assert _chat_completion(gateway.url, "Are you there?", stream=stream) == "Still here."
    finally:
        assert gateway.stop() == 0, gateway.log()
    assert "Traceback" not in gateway.log()

    first, second, third = mock_llm.chat_bodies()
    assert "read" in [t["function"]["name"] for t in first["tools"]]
    call = second["messages"][-2]["tool_calls"][0]
    result = second["messages"][-1]
    assert call["function"]["name"] == "read"
    assert (result["role"], result["tool_call_id"]) == ("tool", call["id"])
    assert result["content"].startswith(reported), result["content"]
    assert "secret plans" not in json.dumps(second)  # the tool never ran
    # the broken call and its error stay in the session's history, in order
    assert [m["role"] for m in third["messages"][-5:]] == ["user", "assistant", "tool", "assistant", "user"]
    # audited as allowed by the policy, then failed: the arguments, not the policy, stopped it
    [record] = read_audit(tmp_path / "state" / "audit" / "tools.jsonl")
    assert (record.tool, record.verdict, record.status) == ("read", "allow", "error")
