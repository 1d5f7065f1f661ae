"""`rustyclaw serve` with MCP servers and skills, the model scripted by llmock to force the calls:
a tool call reaches a real MCP server (npm reference servers over stdio, the SDK fixture server over
streamable HTTP) and its result comes back to the model; a server that hangs or crashes costs the
turn one error result, the turn completes and the restarted server answers the next one; `/readyz`
reports each server; skills are listed in the prompt and one is read on demand through `read`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fixtures.llm_servers import LLMockServer
from tests.fixtures.mcp_servers import McpHttpServer, fixture_stdio_argv, npm_mcp_server

from .gateway_process import GatewayProcess, write_config

pytestmark = [pytest.mark.slow]


@pytest.fixture(scope="module")
def http_mcp() -> Iterator[McpHttpServer]:
    server = McpHttpServer.start()
    try:
        yield server
    finally:
        server.stop()


def chat(gateway: GatewayProcess, text: str, session: str = "e2e") -> dict[str, Any]:
    response = httpx.post(f"{gateway.url}/api/chat", json={"message": text, "session": session}, timeout=120)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def tool_results(body: dict[str, Any]) -> list[str]:
    return [str(m.get("content")) for m in body["messages"] if m["role"] == "tool"]


@pytest.fixture
def gateway(tmp_path: Path, mock_llm: LLMockServer, http_mcp: McpHttpServer) -> Iterator[GatewayProcess]:
    files = tmp_path / "shared"
    files.mkdir()
    (files / "todo.txt").write_text("water the plants\n", encoding="utf-8")
    everything, filesystem = npm_mcp_server("everything"), npm_mcp_server("filesystem")
    fx = fixture_stdio_argv()
    mcp = {
        "servers": {
            "everything": {"command": everything[0], "args": [everything[1], "stdio"]},
            "files": {"command": filesystem[0], "args": [filesystem[1], str(files)]},
            "web": {"url": http_mcp.url, "toolFilter": {"exclude": ["crash", "freeze"]}},
            "fx": {"command": fx[0], "args": list(fx[1:]), "timeoutSeconds": 2},
        },
        "restartBackoffSeconds": 0.2,
    }
    state = tmp_path / "state"
    skill = state / "skills" / "plant-care"
    skill.mkdir(parents=True)
    (skill / "SKILL.md").write_text(
        "---\nname: plant-care\ndescription: How to care for house plants.\n---\nWater weekly; mist ferns.\n",
        encoding="utf-8")
    # Four servers offer about fifty tools: a window of 4,096 tokens (the helper's default, a small
    # local model's) would make every turn compact first, and the scripted replies are for the turns.
    config = write_config(tmp_path / "rustyclaw.yaml", state, mock_llm.base_url, "scripted", mcp=mcp,
                          llm={"contextTokens": 128_000})
    process = GatewayProcess(config, tmp_path).start(timeout=90)
    try:
        yield process
    finally:
        assert process.stop() == 0, process.log()


def test_mcp_tool_calls_reach_real_servers_and_results_come_back(
    gateway: GatewayProcess, mock_llm: LLMockServer, tmp_path: Path
) -> None:
    mock_llm.call_tool("everything__echo", {"message": "ping"}).reply("echoed")
    assert chat(gateway, "echo ping")["reply"] == "echoed"
    mock_llm.call_tool("files__read_text_file", {"path": str(tmp_path / "shared" / "todo.txt")}).reply("read it")
    assert chat(gateway, "what is on my list?")["reply"] == "read it"
    mock_llm.call_tool("web__add", {"a": 20, "b": 22}).reply("added")
    assert chat(gateway, "add them")["reply"] == "added"

    bodies = [r["body"] for r in mock_llm.requests() if r.get("body")]
    offered = {t["function"]["name"] for t in bodies[0]["tools"]}
    assert {"everything__echo", "files__read_text_file", "web__add", "fx__timestamp", "read"} <= offered
    assert "web__crash" not in offered  # toolFilter.exclude
    assert tool_results(bodies[1])[-1] == "Echo: ping"
    assert "water the plants" in tool_results(bodies[3])[-1]
    assert tool_results(bodies[5])[-1] == "42"

    ready = httpx.get(f"{gateway.url}/readyz", timeout=10).json()
    servers = ready["mcp"]
    assert {n: s["status"] for n, s in servers.items()} == {
        "everything": "ready", "files": "ready", "fx": "ready", "web": "ready"}
    status = gateway.cli("status", "--url", gateway.url)
    assert "mcp      everything: ready, 13 tools" in status.stdout, status.stdout + status.stderr


def test_a_hanging_or_crashing_server_does_not_hang_the_turn(gateway: GatewayProcess, mock_llm: LLMockServer) -> None:
    mock_llm.call_tool("fx__timestamp").reply("first")
    chat(gateway, "pid?")
    mock_llm.call_tool("fx__freeze", {"seconds": 120}).reply("it hung, sorry")
    assert chat(gateway, "freeze")["reply"] == "it hung, sorry"
    mock_llm.call_tool("fx__timestamp").reply("back")
    assert chat(gateway, "pid again?")["reply"] == "back"
    mock_llm.call_tool("fx__crash").reply("it crashed, sorry")
    assert chat(gateway, "crash")["reply"] == "it crashed, sorry"
    mock_llm.call_tool("fx__timestamp").reply("back again")
    assert chat(gateway, "and now?")["reply"] == "back again"

    bodies = [r["body"] for r in mock_llm.requests() if r.get("body")]
    results = [tool_results(b)[-1] for b in bodies if b["messages"][-1]["role"] == "tool"]
    first_pid, hung, after_hang, crashed, after_crash = results
    assert first_pid.startswith("pid=") and "did not answer freeze within 2s" in hung
    assert after_hang.startswith("pid=") and after_hang != first_pid  # restarted after the hang
    assert "went away during crash" in crashed
    assert after_crash.startswith("pid=") and after_crash not in (first_pid, after_hang)
    fx = httpx.get(f"{gateway.url}/readyz", timeout=10).json()["mcp"]["fx"]
    assert fx["restarts"] == 2 and fx["status"] == "ready"


def test_skills_are_listed_and_read_on_demand(gateway: GatewayProcess, mock_llm: LLMockServer,
                                              tmp_path: Path) -> None:
    location = tmp_path / "state" / "skills" / "plant-care" / "SKILL.md"
    mock_llm.call_tool("read", {"path": str(location)}).reply("Water weekly.")
    assert chat(gateway, "how do I care for my fern?")["reply"] == "Water weekly."
    first, second = [r["body"] for r in mock_llm.requests() if r.get("body")]
    system = first["messages"][0]["content"]
    assert (f"<skill><name>plant-care</name><description>How to care for house plants.</description>"
            f"<location>{location}</location></skill>") in system
    assert "mist ferns" not in system  # only the listing is in the prompt
    assert "Water weekly; mist ferns." in tool_results(second)[-1]
