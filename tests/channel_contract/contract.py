"""The channel contract: what every push Channel adapter must do, run against the real adapter.

To run it against your adapter, subclass `ChannelContract` in a `test_*.py` module and provide a
`harness` fixture yielding a `ChannelHarness` for it (see docs/writing-a-channel-adapter.md):

    class TestMyChannelContract(ChannelContract):
        @pytest.fixture
        async def harness(self) -> AsyncIterator[ChannelHarness]:
            async with MyHarness() as h:
                yield h

The harness plays the platform's side: it makes a fresh adapter, sends a user's direct message
through the platform (`inject`) and reads what the bot delivered to a chat (`delivered`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

import anyio
import pytest

from rustyclaw.domain.errors import ChannelError
from rustyclaw.domain.messages import InboundMessage, OutboundMessage
from rustyclaw.ports.channel import Channel

# How long "nothing happened" is watched for; the suite never asserts on durations.
QUIET_SECONDS = 0.8
WAIT_SECONDS = 15.0


class ChannelHarness(Protocol):
    def make_channel(self) -> Channel:
        """A new, not yet started adapter connected to this harness's platform."""
        ...

    def new_user(self) -> str:
        """A sender id no other test used; its direct chat's peer id is `peer_of(user)`."""
        ...

    def peer_of(self, user: str) -> str: ...

    async def inject(self, user: str, text: str) -> None:
        """The platform delivers a direct message from `user` (must not raise if nobody listens)."""
        ...

    async def delivered(self, peer_id: str) -> list[str]:
        """Texts the bot delivered to `peer_id` since the last call (each is returned once)."""
        ...


class Recorder:
    """An InboundHandler that records messages and can be told to fail."""

    def __init__(self, fail_first: int = 0) -> None:
        self.messages: list[InboundMessage] = []
        self.fail_first = fail_first
        self.calls = 0
        self.failed = anyio.Event()
        self._changed = anyio.Event()

    async def __call__(self, message: InboundMessage) -> None:
        self.calls += 1
        if self.calls <= self.fail_first:
            self.failed.set()
            raise RuntimeError("handler failure injected by the contract suite")
        self.messages.append(message)
        self._changed.set()
        self._changed = anyio.Event()

    async def wait_for(self, count: int) -> list[InboundMessage]:
        with anyio.fail_after(WAIT_SECONDS):
            while len(self.messages) < count:
                await self._changed.wait()
        return self.messages


async def wait_delivered(harness: ChannelHarness, peer_id: str, count: int) -> list[str]:
    texts: list[str] = []
    with anyio.fail_after(WAIT_SECONDS):
        while len(texts) < count:
            texts.extend(await harness.delivered(peer_id))
            if len(texts) < count:
                await anyio.sleep(0.05)
    return texts


async def started(harness: ChannelHarness, handler: Callable[[InboundMessage], Awaitable[None]]) -> Channel:
    channel = harness.make_channel()
    await channel.start(handler)
    return channel


def out(channel: Channel, peer_id: str, text: str) -> OutboundMessage:
    return OutboundMessage(channel=channel.name, peer_id=peer_id, text=text)


@pytest.mark.anyio
class ChannelContract:
    """Subclass with a `harness` fixture; every test here then runs against that adapter."""

    async def test_start_and_aclose_are_idempotent(self, harness: ChannelHarness) -> None:
        channel = harness.make_channel()
        await channel.aclose()  # closing what never started is a no-op
        recorder = Recorder()
        await channel.start(recorder)
        await channel.start(recorder)
        user = harness.new_user()
        await harness.inject(user, "once")
        await recorder.wait_for(1)
        await channel.aclose()
        await channel.aclose()
        assert [m.text for m in recorder.messages] == ["once"]

    async def test_inbound_text_reaches_the_handler_with_its_fields(self, harness: ChannelHarness) -> None:
        recorder = Recorder()
        channel = await started(harness, recorder)
        try:
            user = harness.new_user()
            await harness.inject(user, "hello there")
            [message] = await recorder.wait_for(1)
        finally:
            await channel.aclose()
        assert message.channel == channel.name
        assert message.text == "hello there"
        assert message.sender_id == user
        assert message.peer_id == harness.peer_of(user)
        assert message.chat_kind == "direct"
        assert message.message_id

    async def test_distinct_messages_have_distinct_ids(self, harness: ChannelHarness) -> None:
        recorder = Recorder()
        channel = await started(harness, recorder)
        try:
            user = harness.new_user()
            for text in ("one", "two", "three"):
                await harness.inject(user, text)
            messages = await recorder.wait_for(3)
        finally:
            await channel.aclose()
        assert sorted(m.text for m in messages) == ["one", "three", "two"]
        assert len({m.message_id for m in messages}) == 3

    async def test_send_delivers(self, harness: ChannelHarness) -> None:
        channel = await started(harness, Recorder())
        try:
            peer = harness.peer_of(harness.new_user())
            await channel.send(out(channel, peer, "a reply"))
            assert await wait_delivered(harness, peer, 1) == ["a reply"]
        finally:
            await channel.aclose()

    async def test_long_text_is_split_to_the_limit_in_order(self, harness: ChannelHarness) -> None:
        channel = await started(harness, Recorder())
        limit = channel.text_limit
        words = [f"w{i:05d}" for i in range(limit * 5 // 14)]  # 7 chars a word: ~2.5 limits of text
        text = " ".join(words[:50]) + "\n\n" + " ".join(words[50:])
        try:
            peer = harness.peer_of(harness.new_user())
            await channel.send(out(channel, peer, text))
            texts = await wait_delivered(harness, peer, 3)
            texts += await harness.delivered(peer)
        finally:
            await channel.aclose()
        assert all(0 < len(t) <= limit for t in texts)
        assert " ".join(texts).split() == words

    async def test_a_failing_handler_does_not_stop_the_channel(self, harness: ChannelHarness) -> None:
        recorder = Recorder(fail_first=1)
        channel = await started(harness, recorder)
        try:
            user = harness.new_user()
            await harness.inject(user, "this one breaks the handler")
            with anyio.fail_after(WAIT_SECONDS):
                await recorder.failed.wait()
            await harness.inject(user, "this one arrives")
            messages = await recorder.wait_for(1)
        finally:
            await channel.aclose()
        assert [m.text for m in messages] == ["this one arrives"]

    async def test_aclose_stops_receiving(self, harness: ChannelHarness) -> None:
        recorder = Recorder()
        channel = await started(harness, recorder)
        user = harness.new_user()
        await harness.inject(user, "before")
        await recorder.wait_for(1)
        await channel.aclose()
        await harness.inject(user, "after")
        await anyio.sleep(QUIET_SECONDS)
        assert [m.text for m in recorder.messages] == ["before"]

    async def test_a_closed_channel_starts_again(self, harness: ChannelHarness) -> None:
        channel = harness.make_channel()
        await channel.start(Recorder())
        await channel.aclose()
        recorder = Recorder()
        await channel.start(recorder)
        try:
            user = harness.new_user()
            await harness.inject(user, "after a restart")
            [message] = await recorder.wait_for(1)
            await channel.send(out(channel, message.peer_id, "still here"))
            assert await wait_delivered(harness, message.peer_id, 1) == ["still here"]
        finally:
            await channel.aclose()

    async def test_send_on_a_channel_that_is_not_running_is_a_channel_error(
        self, harness: ChannelHarness
    ) -> None:
        channel = harness.make_channel()
        with pytest.raises(ChannelError):
            await channel.send(out(channel, harness.peer_of(harness.new_user()), "nobody listens"))
