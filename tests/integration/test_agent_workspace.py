"""An agent's own `workspace` (agents.list[].workspace) is where its prompt files come from too,
not only where its tools work: the real composition root against a scripted model server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rustyclaw.app import bootstrap
from rustyclaw.config.schema import RustyClawConfig
from rustyclaw.domain.messages import InboundMessage
from rustyclaw.settings import settings_of
from tests.fixtures.llm_servers import LLMockServer

pytestmark = pytest.mark.anyio


def system_prompt(request: dict[str, Any]) -> str:
    messages = request["body"]["messages"]
    assert messages[0]["role"] == "system"
    return str(messages[0]["content"])


async def test_an_agents_own_workspace_feeds_its_system_prompt(mock_llm: LLMockServer, tmp_path: Path) -> None:
    shared = tmp_path / "workspace"
    own = tmp_path / "ops-desk"
    shared.mkdir()
    own.mkdir()
    (shared / "SOUL.md").write_text("You are the shared main agent.")
    (own / "SOUL.md").write_text("You are Ops, terse and exact.")
    cfg = RustyClawConfig.model_validate({
        "gateway": {"stateDir": str(tmp_path / "state")},
        "agents": {"workspace": str(shared), "list": [{"id": "ops", "workspace": str(own)}]},
        "llm": {"providers": {"mock": {"baseUrl": mock_llm.base_url}}, "routes": {"default": {"primary": "mock/m"}},
                "embedded": {"enabled": False}, "retry": {"attempts": 1}},
        "storage": {"backend": "sqlite"},
    })
    mock_llm.reply("from ops").reply("from main")
    async with bootstrap(settings_of(cfg), "core") as root:
        ops = await root.gateway.handle(
            InboundMessage(channel="cli", peer_id="me", sender_id="me", text="hi", agent_hint="ops"))
        main = await root.gateway.handle(InboundMessage(channel="cli", peer_id="me", sender_id="me", text="hi"))
    assert ops is not None and ops.text == "from ops" and main is not None
    ops_request, main_request = mock_llm.requests()[-2:]
    assert "You are Ops, terse and exact." in system_prompt(ops_request)
    assert "shared main agent" not in system_prompt(ops_request)
    assert "You are the shared main agent." in system_prompt(main_request)
