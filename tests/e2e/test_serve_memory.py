"""Memory and compaction through `rustyclaw serve` (llmock plays the model, the OpenAI endpoint drives it).

A model tool call to memory_search reaches the real FTS5 index over the workspace's daily notes and
its result goes back to the model; /compact summarises older turns and the store keeps them all.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator

import openai
import pytest

from tests.e2e.gateway_process import GatewayProcess, write_config
from tests.fixtures.llm_servers import LLMockServer

TOKEN = "test-token-memory-0123456789abcdef"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, mock_llm_server: LLMockServer) -> Iterator[GatewayProcess]:
    home = tmp_path_factory.mktemp("memory-e2e")
    notes = home / "state" / "workspace" / "memory"
    notes.mkdir(parents=True)
    (notes / "2025-12-01.md").write_text("# 2025-12-01\n\n- The user's cat is called Miso.\n", encoding="utf-8")
    config = write_config(
        home / "config.yaml", home / "state", mock_llm_server.base_url, "mock-model",
        gateway={"openaiEndpoint": {"enabled": True}, "auth": {"token": TOKEN}},
        agents={"compaction": {"keepRecentTokens": 20, "memoryFlush": {"enabled": False}}},
    )
    process = GatewayProcess(config, home).start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def client(gateway: GatewayProcess) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=TOKEN, max_retries=0) as sdk:
        yield sdk


def ask(client: openai.OpenAI, text: str, user: str) -> str:
    answer = client.chat.completions.create(model="rustyclaw/main", user=user,
                                            messages=[{"role": "user", "content": text}])
    return answer.choices[0].message.content or ""


def test_memory_search_tool_call_reaches_the_index(client: openai.OpenAI, mock_llm: LLMockServer) -> None:
    mock_llm.call_tool("memory_search", {"query": "what is the cat called"})
    mock_llm.reply("Your cat is Miso.")
    assert ask(client, "Do you remember my cat's name?", "alice") == "Your cat is Miso."
    second = [r["body"] for r in mock_llm.requests() if r.get("body")][-1]
    assert any(t["function"]["name"] == "memory_search" for t in second["tools"])
    (tool,) = [m for m in second["messages"] if m["role"] == "tool"]
    results = json.loads(tool["content"])["results"]
    assert results[0]["path"] == "memory/2025-12-01.md" and "Miso" in results[0]["snippet"]


def test_compact_keeps_every_message(client: openai.OpenAI, mock_llm: LLMockServer, gateway: GatewayProcess) -> None:
    mock_llm.reply("Noted.", times=3)
    for text in ("first point about the garden", "second point about the roof", "third point"):
        assert ask(client, text, "bob") == "Noted."
    mock_llm.reply("Summary: garden and roof.")
    assert ask(client, "/compact", "bob").startswith("Compacted")
    summary_request = [r["body"] for r in mock_llm.requests() if r.get("body")][-1]
    assert summary_request["messages"][0]["content"].startswith("You write the running summary")
    with sqlite3.connect(gateway.home / "state" / "rustyclaw.db") as db:
        (session_id,) = db.execute(
            "SELECT session_id FROM sessions WHERE key LIKE '%openai-user:bob'").fetchone()
        roles = [r for (r,) in db.execute(
            "SELECT role FROM messages WHERE session_id = ? ORDER BY seq", (session_id,))]
        kept = db.execute("SELECT first_kept_entry_id FROM compactions WHERE session_id = ?", (session_id,)).fetchall()
    assert roles == ["user", "assistant"] * 3 + ["system"] and len(kept) == 1
    assert (gateway.home / "state" / "memory" / "index.sqlite").is_file()

