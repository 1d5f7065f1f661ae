"""Per-agent task routes through the real root and llmock: `agents.list[].routes.<task>` sends
that agent's turns of the task to its own model, with its own fallbacks, ahead of `llm.routes` and
of the agent's `model`; an agent without routes keeps the shared ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from rustyclaw.app import bootstrap
from rustyclaw.config.schema import RustyClawConfig
from rustyclaw.domain.messages import InboundMessage
from rustyclaw.settings import settings_of
from tests.fixtures.llm_servers import LLMockServer

pytestmark = pytest.mark.anyio

CODE = "why does this fail?\n```python\nprint(1\n```"


def to(agent: str, text: str) -> InboundMessage:
    return InboundMessage(channel="cli", peer_id=agent, sender_id=agent, text=text, agent_hint=agent)


async def test_each_agents_code_task_goes_to_its_own_model(mock_llm: LLMockServer, tmp_path: Path) -> None:
    (tmp_path / "ws").mkdir()
    cfg = RustyClawConfig.model_validate({
        "gateway": {"stateDir": str(tmp_path / "state")},
        "agents": {"workspace": str(tmp_path / "ws"), "list": [
            {"id": "alpha", "model": "mock/alpha-chat", "routes": {"code": {"primary": "mock/model-x"}}},
            {"id": "beta", "routes": {"code": {"primary": "mock/model-y", "fallbacks": ["mock/model-y-small"]},
                                      "fast": {"primary": "mock/beta-quick"}}},
            {"id": "gamma"},
        ]},
        "llm": {"providers": {"mock": {"baseUrl": mock_llm.base_url}}, "embedded": {"enabled": False},
                "retry": {"attempts": 1}, "routes": {
                    "default": {"primary": "mock/big"}, "code": {"primary": "mock/shared-coder"}}},
        "storage": {"backend": "sqlite"},
    })
    mock_llm.fail(500, model="model-y", times=1)  # beta's primary fails once: its own fallback answers
    mock_llm.reply("ok", times=7)
    async with bootstrap(settings_of(cfg), "core") as root:
        before = len(mock_llm.chat_bodies())
        for agent in ("alpha", "beta", "gamma"):
            reply = await root.gateway.handle(to(agent, CODE))
            assert reply is not None and reply.text == "ok", agent
        await root.gateway.handle(to("alpha", "thanks"))
        await root.gateway.handle(to("beta", "thanks"))
        await root.gateway.handle(to("gamma", "Tell me about the history of the printing press."))
    models = [body["model"] for body in mock_llm.chat_bodies()[before:]]
    assert models == [
        "model-x",                          # alpha's code route wins over its own model
        "model-y", "model-y-small",         # beta's code route, then its fallback
        "shared-coder",                     # gamma has no routes: llm.routes.code
        "alpha-chat",                       # alpha's other tasks: its model, as before
        "beta-quick",                       # beta routes fast itself
        "big",
    ]


def test_an_agent_route_naming_an_unknown_provider_is_refused() -> None:
    with pytest.raises(ValueError, match=r"agents\.list\.0\.routes\.code\.primary: provider 'nope'"):
        RustyClawConfig.model_validate({"agents": {"list": [{"id": "a", "routes": {"code": {"primary": "nope/x"}}}]}})
