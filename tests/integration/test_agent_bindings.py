"""Two agents routed by OpenClaw bindings (one by peer, one by channel) through the real composition
root, SQLite and a scripted model server (llmock): each message lands in its agent's sessions and
workspace, and the model is offered that agent's tools only."""

from __future__ import annotations

from pathlib import Path

import pytest

from rustyclaw.app import bootstrap
from rustyclaw.config.schema import RustyClawConfig
from rustyclaw.domain.messages import InboundMessage
from rustyclaw.settings import settings_of
from tests.fixtures.llm_servers import LLMockServer

pytestmark = pytest.mark.anyio


def config(tmp_path: Path, base_url: str) -> RustyClawConfig:
    for name in ("workspace", "ops-ws", "help-ws"):
        (tmp_path / name).mkdir()
    return RustyClawConfig.model_validate({
        "gateway": {"stateDir": str(tmp_path / "state")},
        "agents": {"workspace": str(tmp_path / "workspace"), "list": [
            {"id": "ops", "workspace": str(tmp_path / "ops-ws"), "tools": {"allow": ["group:fs"]}},
            {"id": "help", "workspace": str(tmp_path / "help-ws"), "tools": {"deny": ["group:fs"]}},
        ]},
        "bindings": [
            {"agentId": "help", "match": {"channel": "telegram", "accountId": "*"}},
            {"agentId": "ops", "match": {"channel": "telegram", "peer": {"kind": "direct", "id": "777"}}},
            # The web chat's page session is its peer.
            {"agentId": "help", "match": {"channel": "web", "peer": {"kind": "direct", "id": "kiosk"}}},
        ],
        "sessions": {"dmScope": "per-channel-peer"},
        "llm": {"providers": {"mock": {"baseUrl": base_url}}, "routes": {"default": {"primary": "mock/m"}},
                "embedded": {"enabled": False}, "retry": {"attempts": 1}},
        "storage": {"backend": "sqlite"},
    })


def telegram(peer: str, text: str) -> InboundMessage:
    return InboundMessage(channel="telegram", peer_id=peer, sender_id=peer, text=text)


def tool_names(body: dict[str, object]) -> set[str]:
    tools = body.get("tools") or []
    assert isinstance(tools, list)
    return {str(t["function"]["name"]) for t in tools}


async def test_peer_and_channel_bindings_pick_sessions_workspaces_and_tools(
    mock_llm: LLMockServer, tmp_path: Path
) -> None:
    cfg = config(tmp_path, mock_llm.base_url)
    mock_llm.call_tool("write", {"path": "note.txt", "content": "ops was here"}).reply("ops done")
    mock_llm.reply("help answers")
    async with bootstrap(settings_of(cfg), "core") as root:
        before = len(mock_llm.chat_bodies())
        ops = await root.gateway.handle(telegram("777", "write a note"))
        helped = await root.gateway.handle(telegram("555", "hello"))
        ops_sessions = [e.key for e in await root.store.list_sessions("ops")]
        help_sessions = [e.key for e in await root.store.list_sessions("help")]
        main_sessions = await root.store.list_sessions("main")
    assert ops is not None and ops.text == "ops done"
    assert helped is not None and helped.text == "help answers"
    assert ops.session_key == "agent:ops:telegram:direct:777"
    assert helped.session_key == "agent:help:telegram:direct:555"
    assert ops_sessions == ["agent:ops:telegram:direct:777"]
    assert help_sessions == ["agent:help:telegram:direct:555"]
    assert main_sessions == []
    # The peer-bound agent's write landed in its own workspace, nowhere else.
    assert (tmp_path / "ops-ws" / "note.txt").read_text() == "ops was here"
    assert not (tmp_path / "help-ws" / "note.txt").exists()
    assert not (tmp_path / "workspace" / "note.txt").exists()
    ops_first, _ops_after_tool, help_body = mock_llm.chat_bodies()[before:]
    assert {"read", "write", "edit", "apply_patch"} <= tool_names(ops_first)
    assert "exec" not in tool_names(ops_first)  # allow lists group:fs only
    assert not {"read", "write", "edit", "apply_patch"} & tool_names(help_body)


async def test_an_explicit_agent_hint_wins_over_bindings(mock_llm: LLMockServer, tmp_path: Path) -> None:
    # The OpenAI endpoint's `model: rustyclaw/<agentId>` arrives as the message's agent hint.
    cfg = config(tmp_path, mock_llm.base_url)
    mock_llm.reply("main speaking")
    async with bootstrap(settings_of(cfg), "core") as root:
        message = InboundMessage(channel="telegram", peer_id="777", sender_id="777", text="hi", agent_hint="main")
        reply = await root.gateway.handle(message)
    assert reply is not None and reply.session_key == "agent:main:telegram:direct:777"


async def test_the_web_chat_follows_bindings_and_the_openai_model_names_its_agent(
    mock_llm: LLMockServer, tmp_path: Path
) -> None:
    import httpx

    from rustyclaw.adapters.http.app import create_app
    from rustyclaw.adapters.http.settings import HttpSettings

    cfg = config(tmp_path, mock_llm.base_url)
    mock_llm.reply("help at the kiosk").reply("main on the page").reply("ops via the API")
    async with bootstrap(settings_of(cfg), "core") as root:
        app = create_app(root.gateway, HttpSettings(openai_enabled=True, agent_ids=root.settings.agents.agent_ids))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as http:
            kiosk = (await http.post("/api/chat", json={"message": "hi", "session": "kiosk"})).json()
            page = (await http.post("/api/chat", json={"message": "hi", "session": "desk"})).json()
            api = (await http.post("/v1/chat/completions", json={
                "model": "rustyclaw/ops", "user": "desk", "messages": [{"role": "user", "content": "hi"}]})).json()
        keys = {e.key for e in await root.store.list_sessions()}
    assert kiosk["reply"] == "help at the kiosk" and page["reply"] == "main on the page"
    assert api["model"] == "rustyclaw/ops" and api["choices"][0]["message"]["content"] == "ops via the API"
    assert {"agent:help:openai-user:kiosk", "agent:main:openai-user:desk", "agent:ops:openai-user:desk"} <= keys


async def test_an_agents_own_sandbox_mode(mock_llm: LLMockServer, tmp_path: Path, sandbox_engine_url: str) -> None:
    """agents.list[].sandbox.mode: the bound agent's exec runs in a container (real podman) while the
    shared mode is off, and the default agent's exec stays refused on the host."""
    from tests.fixtures.sandbox import BUSYBOX_IMAGE

    (tmp_path / "ws").mkdir()
    (tmp_path / "box-ws").mkdir()
    cfg = RustyClawConfig.model_validate({
        "gateway": {"stateDir": str(tmp_path / "state")},
        "agents": {"workspace": str(tmp_path / "ws"), "list": [
            {"id": "box", "workspace": str(tmp_path / "box-ws"), "sandbox": {"mode": "all"}}]},
        "bindings": [{"agentId": "box", "match": {"channel": "telegram", "peer": {"kind": "direct", "id": "1"}}}],
        "sandbox": {"mode": "off", "docker": {"image": BUSYBOX_IMAGE, "baseUrl": sandbox_engine_url,
                                              "memory": "64m", "pidsLimit": 64, "timeoutSeconds": 20}},
        "tools": {"profile": "coding"},
        "llm": {"providers": {"mock": {"baseUrl": mock_llm.base_url}}, "routes": {"default": {"primary": "mock/m"}},
                "embedded": {"enabled": False}, "retry": {"attempts": 1}},
        "storage": {"backend": "sqlite"},
    })
    mock_llm.call_tool("exec", {"command": "echo boxed-$((6*7))"}).reply("ran it")
    mock_llm.call_tool("exec", {"command": "echo host"}).reply("could not")
    async with bootstrap(settings_of(cfg), "core") as root:
        assert root.sandbox is not None  # built for the one agent that needs it
        await root.gateway.handle(telegram("1", "run it"))
        await root.gateway.handle(telegram("2", "run it"))
        box = await root.store.get_session("agent:box:main")
        main = await root.store.get_session("agent:main:main")
        assert box is not None and main is not None
        box_result = [m.content for m in await root.store.load_messages(box) if m.role == "tool"]
        main_result = [m.content for m in await root.store.load_messages(main) if m.role == "tool"]
        # The container the agent's scope kept (sandbox.scope: agent) goes with the test.
        await root.sandbox.prune(0)
    assert "boxed-42" in box_result[0]
    assert "not allowed here" in main_result[0] and "sandbox.mode off" in main_result[0]
