"""sessions_spawn and sessions_send through the real composition root, SQLite and a scripted model
(llmock): a spawned sub-agent's answer comes back into its parent's turn, in a child session of the
chosen agent; the depth, run-time and parent-policy limits hold; sessions_send waits for the reply
of the turn it starts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rustyclaw.app import Root, bootstrap
from rustyclaw.config.schema import RustyClawConfig
from rustyclaw.domain.messages import ChatMessage, InboundMessage
from rustyclaw.settings import settings_of
from tests.fixtures.llm_servers import LLMockServer

pytestmark = pytest.mark.anyio


def config(tmp_path: Path, base_url: str, helper: dict[str, Any] | None = None, **subagents: Any) -> RustyClawConfig:
    (tmp_path / "ws").mkdir(exist_ok=True)
    return RustyClawConfig.model_validate({
        "gateway": {"stateDir": str(tmp_path / "state")},
        "agents": {"workspace": str(tmp_path / "ws"), "subagents": subagents, "list": [
            {"id": "main", "tools": {"deny": ["write"]}, "subagents": {"allowAgents": ["helper"]}},
            {"id": "helper", **(helper or {})},
        ]},
        "llm": {"providers": {"mock": {"baseUrl": base_url}}, "routes": {"default": {"primary": "mock/m"}},
                "embedded": {"enabled": False}, "retry": {"attempts": 1}},
        "storage": {"backend": "sqlite"},
    })


def cli(text: str) -> InboundMessage:
    return InboundMessage(channel="cli", peer_id="me", sender_id="me", text=text)


async def transcript(root: Root, key: str) -> list[ChatMessage]:
    entry = await root.store.get_session(key)
    assert entry is not None, key
    return await root.store.load_messages(entry)


def tool_results(messages: list[ChatMessage]) -> list[str]:
    return [m.content for m in messages if m.role == "tool"]


async def child_key(root: Root) -> str:
    (child,) = await root.store.list_sessions("helper")
    assert child.key.startswith("agent:helper:subagent:")
    return child.key


async def test_a_spawned_sub_agent_answers_into_its_parents_turn(mock_llm: LLMockServer, tmp_path: Path) -> None:
    mock_llm.call_tool("sessions_spawn", {"task": "What is six times seven?", "agentId": "helper",
                                          "label": "maths"})
    mock_llm.reply("forty-two, says the helper")  # the child's turn
    mock_llm.reply("The helper worked it out: 42.")  # the parent, with the child's answer
    async with bootstrap(settings_of(config(tmp_path, mock_llm.base_url, maxTokens=77)), "core") as root:
        reply = await root.gateway.handle(cli("ask the helper"))
        assert reply is not None and reply.text == "The helper worked it out: 42."
        key = await child_key(root)
        (result,) = tool_results(await transcript(root, "agent:main:main"))
        child = await transcript(root, key)
    outcome = json.loads(result)
    assert outcome["status"] == "ok" and outcome["reply"] == "forty-two, says the helper"
    assert outcome["childSessionKey"] == key and outcome["label"] == "maths"
    assert [(m.role, m.content) for m in child] == [("user", "What is six times seven?"),
                                                    ("assistant", "forty-two, says the helper")]
    # The child's model call is capped by agents.subagents.maxTokens; the parent's is not.
    bodies = mock_llm.chat_bodies()[-3:]
    assert bodies[1]["max_tokens"] == 77
    assert bodies[0].get("max_tokens") != 77 and bodies[2].get("max_tokens") != 77


async def test_depth_and_the_parents_policy_bound_a_child(mock_llm: LLMockServer, tmp_path: Path) -> None:
    mock_llm.call_tool("sessions_spawn", {"task": "go deeper", "agentId": "helper"})
    mock_llm.call_tool("sessions_spawn", {"task": "deeper still", "agentId": "helper"})  # the child tries
    mock_llm.call_tool("write", {"path": "x.txt", "content": "x"})  # the parent may not write
    mock_llm.reply("child gives up")
    mock_llm.reply("parent done")
    async with bootstrap(settings_of(config(tmp_path, mock_llm.base_url)), "core") as root:
        reply = await root.gateway.handle(cli("delegate"))
        assert reply is not None and reply.text == "parent done"
        child = await transcript(root, await child_key(root))
    spawn_refusal, write_refusal = tool_results(child)
    assert "spawn depth 2 is over agents.subagents.maxSpawnDepth (1)" in spawn_refusal
    assert "not allowed here (parent session agent:main:main: " in write_refusal
    assert not (tmp_path / "ws" / "helper" / "x.txt").exists()


async def test_a_child_that_runs_too_long_is_stopped(mock_llm: LLMockServer, tmp_path: Path) -> None:
    mock_llm.call_tool("sessions_spawn", {"task": "think forever", "agentId": "helper"})
    # The child's model never finishes (llmock plans one behaviour per category and request, so the
    # stall is matched by the child's own model).
    mock_llm.stream_fault("stall", after_chunks=1, stall_seconds=60, model="slow")
    mock_llm.reply("the helper timed out", model="m")
    cfg = config(tmp_path, mock_llm.base_url, {"model": "mock/slow"}, runTimeoutSeconds=1)
    async with bootstrap(settings_of(cfg), "core") as root:
        reply = await root.gateway.handle(cli("delegate"))
        assert reply is not None and reply.text == "the helper timed out"
        (result,) = tool_results(await transcript(root, "agent:main:main"))
    outcome = json.loads(result)
    assert outcome["status"] == "timeout" and "within 1 s" in outcome["error"]


async def test_sessions_send_starts_a_turn_and_waits_for_its_reply(mock_llm: LLMockServer, tmp_path: Path) -> None:
    mock_llm.reply("noted")  # the first turn, which creates the target session
    async with bootstrap(settings_of(config(tmp_path, mock_llm.base_url)), "core") as root:
        other = InboundMessage(channel="telegram", peer_id="9", sender_id="9", text="remember the milk",
                               chat_kind="group")
        first = await root.gateway.handle(other)
        assert first is not None
        target = first.session_key
        mock_llm.call_tool("sessions_send", {"sessionKey": target, "message": "what should I buy?",
                                             "timeoutSeconds": 30})
        mock_llm.reply("milk")  # the target session's turn
        mock_llm.reply("The other chat says: milk")
        reply = await root.gateway.handle(cli("ask the other chat"))
        assert reply is not None and reply.text == "The other chat says: milk"
        (result,) = tool_results(await transcript(root, "agent:main:main"))
        target_messages = await transcript(root, target)
    assert json.loads(result) == {"status": "ok", "reply": "milk", "sessionKey": target}
    asked = target_messages[-2]
    assert (asked.role, asked.content, asked.meta.get("sender")) == ("user", "what should I buy?",
                                                                     "session agent:main:main")
    assert target_messages[-1].content == "milk"


async def test_a_child_stops_at_its_token_budget(mock_llm: LLMockServer, tmp_path: Path) -> None:
    mock_llm.call_tool("sessions_spawn", {"task": "read forever", "agentId": "helper"}, model="m")
    # The child's model would call a tool on every step without end; only the budget stops it.
    mock_llm.call_tool("read", {"path": "notes.txt"}, text="reading the notes", times=None, model="busy")
    mock_llm.reply("the helper ran out of tokens", model="m")
    cfg = config(tmp_path, mock_llm.base_url, {"model": "mock/busy"}, maxTotalTokens=1)
    async with bootstrap(settings_of(cfg), "core") as root:
        reply = await root.gateway.handle(cli("delegate"))
        assert reply is not None and reply.text == "the helper ran out of tokens"
        (result,) = tool_results(await transcript(root, "agent:main:main"))
        child = await transcript(root, await child_key(root))
    outcome = json.loads(result)
    assert outcome["status"] == "token_budget" and "maxTotalTokens" in outcome["error"]
    assert "reading the notes" in outcome["partial"]
    # One model call spent the budget: its tool ran (the transcript stays whole), no second call followed.
    assert [b["model"] for b in mock_llm.chat_bodies()].count("busy") == 1
    assert [m.role for m in child] == ["user", "assistant", "tool", "assistant"]
    assert "token budget (1) was reached" in child[-1].content
