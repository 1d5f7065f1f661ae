"""Media the gateway cannot use is answered plainly: images (no vision model) get a notice, and
voice notes are not even downloaded when speech to text is off."""

from __future__ import annotations

import pytest

from rustyclaw.domain.commands import START_TEXT, menu
from rustyclaw.domain.media_notice import CAPTION_NOTICE, IMAGE_NOTICE
from rustyclaw.domain.messages import Attachment, InboundMessage

from .fakes import Step
from .gateway_kit import inbound, make_gateway

pytestmark = pytest.mark.anyio
PHOTO = Attachment(kind="image", mime="image/jpeg", url="tg-file-1", size=1000)
VOICE = Attachment(kind="voice", mime="audio/ogg", url="tg-file-2", size=1000)


async def test_an_image_without_text_gets_the_notice_and_no_model_turn() -> None:
    kit = await make_gateway()
    reply = await kit.gateway.handle(inbound("", channel="telegram", attachments=(PHOTO,)))
    assert reply is not None and reply.text == IMAGE_NOTICE and reply.command == "media"
    assert kit.llm.requests == []


async def test_a_captioned_image_is_answered_with_the_notice_first() -> None:
    kit = await make_gateway([Step(text="A caption answer.")])
    reply = await kit.gateway.handle(inbound("what is this?", channel="telegram", attachments=(PHOTO,)))
    assert reply is not None and reply.text == f"{CAPTION_NOTICE}\n\nA caption answer."
    assert kit.llm.requests[0].messages[-1].content == "what is this?"


async def test_voice_notes_are_not_downloaded_when_speech_to_text_is_off() -> None:
    kit = await make_gateway()
    fetched: list[InboundMessage] = []

    async def media(message: InboundMessage) -> InboundMessage:
        fetched.append(message)
        return message

    reply = await kit.gateway.handle(inbound("", channel="telegram", attachments=(VOICE,)), None, media)
    assert fetched == []
    assert reply is not None and "speech to text is off" in reply.text


async def test_telegram_start_gets_a_greeting_not_a_model_turn() -> None:
    kit = await make_gateway()
    for text in ("/start", "/start deep-link-payload", "/start@RustyBot"):
        reply = await kit.gateway.handle(inbound(text, channel="telegram"))
        assert reply is not None and reply.text == START_TEXT and reply.command == "start"
    assert kit.llm.requests == []


def test_the_command_menu_lists_every_command_of_the_help_text() -> None:
    names = [name for name, _ in menu()]
    assert names == ["new", "reset", "status", "model", "tts", "compact", "stop", "elevated", "help"]
    assert all(1 <= len(description) <= 256 for _, description in menu())


async def test_images_keep_room_in_the_prompt_for_themselves() -> None:
    """A vision request leaves IMAGE_TOKENS per image free of history (its real cost is known only
    to the model's server), so older messages give way first."""
    from rustyclaw.domain.agent import IMAGE_TOKENS, AgentRunner
    from rustyclaw.domain.context import ContextBuilder
    from rustyclaw.domain.messages import ChatMessage
    from rustyclaw.domain.settings import PruningSettings
    from rustyclaw.domain.tools import ToolRegistry
    from rustyclaw.ports.tools import ToolContext

    from .fakes import FakeClock, ScriptedLLM, WordTokenizer

    llm = ScriptedLLM([Step(text="a"), Step(text="b")])
    runner = AgentRunner(llm, ToolRegistry(), ContextBuilder(WordTokenizer(), PruningSettings()), FakeClock(),
                         context_tokens=IMAGE_TOKENS + 1400, max_completion_tokens=200, max_iterations=2)
    history = [ChatMessage(role="user" if i % 2 == 0 else "assistant", content=" ".join(["word"] * 200))
               for i in range(6)] + [ChatMessage(role="user", content="what is this?")]
    context = ToolContext(agent_id="main", session_key="agent:main:main", session_id="s", channel="cli",
                          sender_id="me")

    async def keep(step: object) -> None:
        return None

    await runner.run("", history, context, commit=keep)
    await runner.run("", history, context, commit=keep, task="vision", images=(PHOTO,))
    text_only, vision = (len(r.messages) for r in llm.requests)
    assert vision < text_only
    assert llm.requests[1].images == (PHOTO,) and llm.requests[1].messages[-1].content == "what is this?"
