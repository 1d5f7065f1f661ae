"""Routes by task through the real root and llmock: code, short messages and images take their own
`llm.routes.<task>`; an agent's own model still wins; an unrouted task takes `default`."""

from __future__ import annotations

from pathlib import Path

import pytest

from rustyclaw.app import bootstrap
from rustyclaw.config.schema import RustyClawConfig
from rustyclaw.domain.messages import Attachment, InboundMessage
from rustyclaw.domain.task_routing import turn_task
from rustyclaw.settings import settings_of
from tests.fixtures.llm_servers import LLMockServer

pytestmark = pytest.mark.anyio


def cli(text: str, **extra: object) -> InboundMessage:
    return InboundMessage(channel="cli", peer_id="me", sender_id="me", text=text, **extra)  # type: ignore[arg-type]


def test_the_task_follows_what_the_message_is() -> None:
    assert turn_task(cli("fix this:\n```python\nprint(1\n```")) == "code"
    assert turn_task(cli("Traceback (most recent call last):\n  File x")) == "code"
    assert turn_task(cli("hi!")) == "fast"
    assert turn_task(cli("/status")) == "default"
    assert turn_task(cli("Please plan a three-day trip to Lisbon with museums and food.")) == "default"
    image = Attachment(kind="image", mime="image/png", data=b"\x89PNG")
    assert turn_task(cli("what is this?", attachments=(image,))) == "vision"


async def test_each_task_takes_its_route_and_an_agents_model_wins(mock_llm: LLMockServer, tmp_path: Path) -> None:
    (tmp_path / "ws").mkdir()
    cfg = RustyClawConfig.model_validate({
        "gateway": {"stateDir": str(tmp_path / "state")},
        "agents": {"workspace": str(tmp_path / "ws"), "list": [{"id": "pinned", "model": "mock/pinned-model"}]},
        "llm": {"providers": {"mock": {"baseUrl": mock_llm.base_url}}, "embedded": {"enabled": False},
                "retry": {"attempts": 1}, "routes": {
                    "default": {"primary": "mock/big"}, "code": {"primary": "mock/coder"},
                    "fast": {"primary": "mock/quick"}}},
        "storage": {"backend": "sqlite"},
    })
    mock_llm.reply("ok", times=4)
    async with bootstrap(settings_of(cfg), "core") as root:
        before = len(mock_llm.chat_bodies())
        await root.gateway.handle(cli("```\nx = 1\n```\nwhy?"))
        await root.gateway.handle(cli("thanks"))
        await root.gateway.handle(cli("Tell me about the history of the printing press in Europe."))
        await root.gateway.handle(cli("thanks", agent_hint="pinned"))
    models = [body["model"] for body in mock_llm.chat_bodies()[before:]]
    assert models == ["coder", "quick", "big", "pinned-model"]
