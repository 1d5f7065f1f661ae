"""gateway.requestTimeoutSeconds bounds one whole turn, and the reply says what ran out."""

from __future__ import annotations

import anyio
import pytest

from rustyclaw.config.schema import RustyClawConfig
from rustyclaw.domain.settings import AgentSettings
from rustyclaw.settings_map import agent_settings

from .fakes import Step
from .gateway_kit import inbound, make_gateway

pytestmark = pytest.mark.anyio


async def test_a_turn_over_its_deadline_is_stopped_with_a_reply_naming_the_setting() -> None:
    settings = AgentSettings(context_tokens=4000, max_completion_tokens=200, turn_timeout_seconds=0.2)
    kit = await make_gateway([Step(hang=True)], agent_settings=settings)
    with anyio.fail_after(30):  # the deadline, not this guard, must end the turn
        reply = await kit.gateway.handle(inbound("hello"))
    assert reply is not None and reply.finish_reason == "error"
    assert "gateway.requestTimeoutSeconds" in reply.text and "0.2 s" in reply.text
    # The user's message stays stored; the session is free for the next turn.
    entry = await kit.store.get_session(reply.session_key)
    assert entry is not None
    assert [m.content for m in await kit.store.load_messages(entry)] == ["hello"]


async def test_a_turn_within_its_deadline_answers() -> None:
    settings = AgentSettings(context_tokens=4000, max_completion_tokens=200, turn_timeout_seconds=30)
    kit = await make_gateway([Step(text="hi there")], agent_settings=settings)
    reply = await kit.gateway.handle(inbound("hello"))
    assert reply is not None and reply.text == "hi there"


def test_the_config_key_reaches_the_turn() -> None:
    cfg = RustyClawConfig.model_validate({"gateway": {"requestTimeoutSeconds": 42}})
    assert agent_settings(cfg).turn_timeout_seconds == 42
