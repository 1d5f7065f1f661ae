"""Prompt tokens the gateway sends for a first "hi" with the default tools (budget <= 1,000).

The stub records the request body `rustyclaw serve` sent; the body's system prompt, messages and tool
schemas are counted with tiktoken's cl100k (the project's tokenizer adapter) the way OpenAI bills
function calling closely enough for a budget: the chat-format overhead per message from
`rustyclaw.ext.tokens`, plus the JSON of the tool schemas.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from benchmarks import http_load
from benchmarks.figures import Figures
from benchmarks.processes import ServeProcess, StubLLM, write_config
from rustyclaw.adapters.tokenizer import make_tokenizer
from rustyclaw.ext import tokens

PROMPT_BUDGET = 1000


def prompt_tokens(body: dict[str, Any], count: Any) -> dict[str, int]:
    """Token counts of a chat-completions request body: messages (with chat overhead) and tools."""
    messages = body["messages"]
    message_tokens = sum(count(m.get("content") or "") for m in messages)
    overhead = sum(tokens.message_overhead("name" in m) for m in messages) + tokens.REPLY_PRIMING
    tools = body.get("tools") or []
    tool_tokens = count(json.dumps(tools, separators=(",", ":"))) if tools else 0
    system = sum(count(m.get("content") or "") for m in messages if m["role"] == "system")
    return {
        "total": message_tokens + overhead + tool_tokens,
        "system_prompt": system,
        "messages": message_tokens,
        "chat_format_overhead": overhead,
        "tool_schemas": tool_tokens,
        "tools": len(tools),
    }


def test_first_hi_prompt_tokens(gateway_stub_llm: StubLLM, gateway_home: Path, figures: Figures) -> None:
    serve = ServeProcess(write_config(gateway_home, gateway_stub_llm.base_url), gateway_home)
    serve.start()
    try:
        http_load.chat_load("127.0.0.1", serve.port, sessions=1, per_session=1, concurrency=1,
                            stream=False, prefix="prompt-first-hi")
        bodies = [b for b in gateway_stub_llm.requests() if b.get("model")]
    finally:
        serve.stop()
    body = bodies[-1]
    assert [m["role"] for m in body["messages"]] == ["system", "user"], body["messages"]
    assert body["messages"][-1]["content"] == "hi"

    tokenizer = make_tokenizer("cl100k")
    counts = prompt_tokens(body, tokenizer.count)
    figures.record("first_hi_prompt_tokens", counts["total"], "tokens", PROMPT_BUDGET,
                   f"cl100k: system prompt {counts['system_prompt']}, tool schemas {counts['tool_schemas']} "
                   f"({counts['tools']} tools), chat format {counts['chat_format_overhead']}")
    figures.detail("first_hi_prompt", {**counts, "body": body})


SKILLS_MCP_BUDGET = 1500
MCP_FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "mcp_fixture_server.py"
THREE_SKILLS = {
    "weather-brief": "Morning weather briefing for the user's city from the weather tool, with what to wear.",
    "git-helper": "Recipes for everyday git tasks: undo a commit, clean branches, bisect a regression.",
    "travel-planner": "Plan a trip: dates, budget, bookings checklist and a day-by-day itinerary.",
}


def test_first_hi_prompt_tokens_with_skills_and_mcp(
    gateway_stub_llm: StubLLM, gateway_home: Path, figures: Figures
) -> None:
    """The same first "hi" with 3 skills in the workspace and one MCP server of 10 tools (budget 1,500),
    and in the same run without them, so what skills and MCP add is a figure of its own."""
    import sys

    def first_hi(home: Path, **sections: Any) -> dict[str, Any]:
        home.mkdir(parents=True, exist_ok=True)
        serve = ServeProcess(write_config(home, gateway_stub_llm.base_url, **sections), home)
        serve.start()
        try:
            http_load.chat_load("127.0.0.1", serve.port, sessions=1, per_session=1, concurrency=1,
                                stream=False, prefix=f"prompt-{home.name}")
            bodies = [b for b in gateway_stub_llm.requests() if b.get("model")]
        finally:
            serve.stop()
        found: dict[str, Any] = bodies[-1]
        assert found["messages"][-1]["content"] == "hi"
        return found

    count = make_tokenizer("cl100k").count
    plain = prompt_tokens(first_hi(gateway_home / "plain"), count)
    full = gateway_home / "full"
    for name, description in THREE_SKILLS.items():
        folder = full / "workspace" / "skills" / name
        folder.mkdir(parents=True)
        (folder / "SKILL.md").write_text(f"---\nname: {name}\ndescription: {description}\n---\n"
                                         "Steps the model reads only when the skill is used.\n", encoding="utf-8")
    mcp = {"servers": {"tools": {"command": sys.executable, "args": [str(MCP_FIXTURE), "stdio", "--only-ten"]}}}
    body = first_hi(full, mcp=mcp)
    mcp_tools = [t["function"]["name"] for t in body.get("tools", []) if t["function"]["name"].startswith("tools__")]
    assert len(mcp_tools) == 10, mcp_tools
    system = body["messages"][0]["content"]
    assert all(f"<name>{name}</name>" in system for name in THREE_SKILLS), system

    counts = prompt_tokens(body, count)
    figures.record("skills_mcp_prompt_tokens_added", counts["total"] - plain["total"], "tokens", None,
                   f"3 skills listed: {counts['system_prompt'] - plain['system_prompt']}; 10 MCP tool schemas: "
                   f"{counts['tool_schemas'] - plain['tool_schemas']} (plain first hi in the same run: "
                   f"{plain['total']})")
    figures.record("first_hi_prompt_tokens_skills_mcp", counts["total"], "tokens", SKILLS_MCP_BUDGET,
                   f"cl100k: system prompt {counts['system_prompt']} (3 skills listed), tool schemas "
                   f"{counts['tool_schemas']} ({counts['tools']} tools, 10 from MCP), "
                   f"chat format {counts['chat_format_overhead']}")
    figures.detail("first_hi_prompt_skills_mcp", {**counts, "body": body})
