"""The push-channel dispatcher: typing only for served messages, replies back, bad input answered."""

from __future__ import annotations

import pytest

from rustyclaw.domain.dispatch import ChannelDispatcher
from rustyclaw.domain.gateway import AccessDecision
from rustyclaw.domain.messages import Attachment, InboundMessage, OutboundMessage
from rustyclaw.domain.settings import AgentSettings

from .fakes import Step
from .gateway_kit import inbound, make_gateway

pytestmark = pytest.mark.anyio


class RecordingChannel:
    name = "fake"
    text_limit = 100

    def __init__(self) -> None:
        self.sent: list[OutboundMessage] = []
        self.typing_for: list[str] = []

    async def start(self, handler: object) -> None:
        return None

    async def send(self, message: OutboundMessage) -> None:
        self.sent.append(message)

    async def typing(self, message: InboundMessage) -> None:
        self.typing_for.append(message.text)

    async def aclose(self) -> None:
        return None


class OnlyAlice:
    async def check(self, message: InboundMessage) -> AccessDecision:
        return AccessDecision(allowed=message.sender_id == "alice")


async def test_served_message_shows_typing_and_gets_the_reply_in_its_chat() -> None:
    kit = await make_gateway([Step(text="hello")], access=OnlyAlice())
    channel = RecordingChannel()
    dispatch = ChannelDispatcher(kit.gateway, channel)
    await dispatch(inbound("hi", sender_id="alice", peer_id="chat9", message_id="m1", channel="fake"))
    assert channel.typing_for == ["hi"]
    assert [(m.peer_id, m.text, m.reply_to) for m in channel.sent] == [("chat9", "hello", "m1")]


async def test_ignored_sender_gets_neither_typing_nor_reply() -> None:
    kit = await make_gateway([Step(text="hello")], access=OnlyAlice())
    channel = RecordingChannel()
    await ChannelDispatcher(kit.gateway, channel)(inbound("hi", sender_id="mallory", channel="fake"))
    assert channel.typing_for == [] and channel.sent == []


async def test_bad_input_is_answered_in_the_chat() -> None:
    kit = await make_gateway(agent_settings=AgentSettings(max_message_chars=3))
    channel = RecordingChannel()
    await ChannelDispatcher(kit.gateway, channel)(inbound("too long", channel="fake"))
    assert len(channel.sent) == 1 and "limit is 3" in channel.sent[0].text
    assert channel.typing_for == []


class MediaRecordingChannel(RecordingChannel):
    def __init__(self) -> None:
        super().__init__()
        self.fetched: list[str] = []

    async def fetch_media(self, attachment: Attachment, max_bytes: int) -> bytes:
        self.fetched.append(attachment.url or "")
        return b"OggS-bytes"


async def test_voice_notes_are_fetched_only_after_access_lets_the_sender_in() -> None:
    kit = await make_gateway([Step(text="hello")], access=OnlyAlice())
    channel = MediaRecordingChannel()
    note = Attachment(kind="voice", mime="audio/ogg", url="platform-file:1")
    dispatch = ChannelDispatcher(kit.gateway, channel)
    await dispatch(inbound("", sender_id="mallory", channel="fake", attachments=(note,)))
    assert channel.fetched == [] and channel.sent == []
    await dispatch(inbound("", sender_id="alice", channel="fake", attachments=(note,)))
    # No speech to text configured here: nothing is downloaded; a clear reply, no turn.
    assert channel.fetched == []
    assert len(channel.sent) == 1 and "speech to text is off" in channel.sent[0].text
    assert kit.llm.requests == []


async def test_an_image_reference_is_fetched_for_a_vision_route_and_sent_with_the_request() -> None:
    settings = AgentSettings(context_tokens=4000, max_completion_tokens=200,
                             routed_tasks=frozenset({"default", "vision"}))
    kit = await make_gateway([Step(text="a cat")], agent_settings=settings, access=OnlyAlice())
    channel = MediaRecordingChannel()
    photo = Attachment(kind="image", mime="image/jpeg", url="platform-file:2")
    voice = Attachment(kind="voice", mime="audio/ogg", url="platform-file:3")
    await ChannelDispatcher(kit.gateway, channel)(
        inbound("what is it?", sender_id="alice", channel="fake", attachments=(photo, voice)))
    # Only the image is downloaded (speech to text is off here), and it goes with the vision request.
    assert channel.fetched == ["platform-file:2"]
    request = kit.llm.requests[0]
    assert request.task == "vision" and request.model is None
    assert [(a.url, a.data) for a in request.images] == [("platform-file:2", b"OggS-bytes")]
    assert [m.text for m in channel.sent] == ["a cat"]


async def test_an_image_that_cannot_be_fetched_is_answered_in_the_chat() -> None:
    class Failing(MediaRecordingChannel):
        async def fetch_media(self, attachment: Attachment, max_bytes: int) -> bytes:
            from rustyclaw.domain.errors import ChannelError

            raise ChannelError("gone")

    kit = await make_gateway(agent_settings=AgentSettings(routed_tasks=frozenset({"default", "vision"})))
    channel = Failing()
    photo = Attachment(kind="image", mime="image/jpeg", url="platform-file:4")
    await ChannelDispatcher(kit.gateway, channel)(inbound("", channel="fake", attachments=(photo,)))
    assert [m.text for m in channel.sent] == ["Sorry, I couldn't download that image; please try again or type it."]
    assert kit.llm.requests == []
