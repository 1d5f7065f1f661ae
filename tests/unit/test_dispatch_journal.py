"""The dispatcher with an inbound journal (domain side, memory journal): duplicates dropped,
replies kept and marked delivered, interrupted turns finished, a message that keeps dying given up
on with a notice to its sender."""

from __future__ import annotations

import anyio
import pytest

from rustyclaw.adapters.inbox.memory import MemoryInbox
from rustyclaw.domain.dispatch import GAVE_UP_TEXT, MAX_RESUMES, ChannelDispatcher
from rustyclaw.domain.errors import DeliveryError
from rustyclaw.domain.messages import ChatMessage, OutboundMessage
from rustyclaw.ports.inbox import inbox_key

from .fakes import FakeClock, Step
from .gateway_kit import inbound, make_gateway
from .test_dispatch import RecordingChannel

pytestmark = pytest.mark.anyio


class RefusingChannel(RecordingChannel):
    async def send(self, message: OutboundMessage) -> None:
        raise DeliveryError("telegram sendMessage failed: Forbidden: bot was blocked by the user", transient=False)


async def test_a_message_is_journaled_answered_and_closed_once() -> None:
    kit = await make_gateway([Step(text="hello")])
    inbox, channel = MemoryInbox(), RecordingChannel()
    dispatch = ChannelDispatcher(kit.gateway, channel, inbox, FakeClock())
    message = inbound("hi", channel="fake", message_id="m1")
    assert await dispatch.accept(message)
    assert not await dispatch.accept(message)  # the platform delivered it again
    await dispatch(message)
    assert [m.text for m in channel.sent] == ["hello"]
    entry = inbox.entries[inbox_key(message)]
    assert (entry.state, entry.reply) == ("delivered", channel.sent[0])
    assert await dispatch.unfinished() == []


async def test_an_interrupted_turn_is_finished_from_its_stored_message() -> None:
    kit = await make_gateway([Step(text="the answer")])
    inbox, channel = MemoryInbox(), RecordingChannel()
    dispatch = ChannelDispatcher(kit.gateway, channel, inbox, FakeClock())
    message = inbound("question", channel="fake", message_id="m2")
    await dispatch.accept(message)
    # Before the restart the gateway stored the user's message, then died before the model answered.
    key = kit.gateway.key_for(message)
    async with kit.gateway.sessions.turn(key):
        entry = await kit.gateway.sessions.open(key, message)
        await kit.gateway.sessions.append(entry, [ChatMessage(role="user", content="question", id="u1",
                                                              created_at=1.0, inbound_id="m2")])
    (pending,) = await dispatch.unfinished()  # what the next start finds
    await dispatch.resume(pending)
    assert [m.text for m in channel.sent] == ["the answer"]
    history = await kit.gateway.sessions.history(entry)
    assert [m.content for m in history if m.role == "user"] == ["question"]  # not stored twice


async def test_a_message_that_keeps_dying_is_given_up_with_a_notice() -> None:
    kit = await make_gateway()
    inbox, channel = MemoryInbox(), RecordingChannel()
    dispatch = ChannelDispatcher(kit.gateway, channel, inbox, FakeClock())
    message = inbound("poison", channel="fake", message_id="m3")
    await dispatch.accept(message)
    inbox.entries[inbox_key(message)].attempts = MAX_RESUMES
    (pending,) = await dispatch.unfinished()
    await dispatch.resume(pending)
    assert [m.text for m in channel.sent] == [GAVE_UP_TEXT] and kit.llm.requests == []
    assert inbox.entries[inbox_key(message)].state == "delivered"


async def test_each_resume_is_counted() -> None:
    kit = await make_gateway([Step(hang=True)])
    inbox = MemoryInbox()
    dispatch = ChannelDispatcher(kit.gateway, RecordingChannel(), inbox, FakeClock())
    message = inbound("count me", channel="fake", message_id="m4")
    await dispatch.accept(message)
    (pending,) = await dispatch.unfinished()
    async with anyio.create_task_group() as group:
        group.start_soon(dispatch.resume, pending)
        await kit.llm.started.wait()
        group.cancel_scope.cancel()  # the turn dies with the "process"
    entry = inbox.entries[inbox_key(message)]
    assert (entry.state, entry.attempts) == ("received", 1)


async def test_a_refused_send_is_recorded_as_failed() -> None:
    kit = await make_gateway([Step(text="hello")])
    inbox = MemoryInbox()
    dispatch = ChannelDispatcher(kit.gateway, RefusingChannel(), inbox, FakeClock())
    message = inbound("hi", channel="fake", message_id="m5")
    await dispatch.accept(message)
    await dispatch(message)
    (failed,) = await inbox.failures()
    assert failed.state == "failed" and "blocked" in (failed.error or "") and failed.reply is not None
