"""The channel supervisor isolates failures and restarts channels with backoff."""

from __future__ import annotations

import anyio
import pytest

from rustyclaw.adapters.channels.backoff import Backoff
from rustyclaw.adapters.channels.supervisor import ChannelSupervisor
from rustyclaw.domain.errors import ChannelError
from rustyclaw.domain.messages import InboundMessage, OutboundMessage
from rustyclaw.ports.channel import InboundHandler

pytestmark = pytest.mark.anyio


class StubChannel:
    text_limit = 100

    def __init__(self, name: str, *, fail_starts: int = 0, hang: bool = False) -> None:
        self.name = name
        self.fail_starts = fail_starts
        self.hang = hang
        self.starts = 0
        self.closes = 0
        self.state = "running"
        self.last_error: str | None = None
        self._stopped = anyio.Event()
        self._error: BaseException | None = None

    async def start(self, handler: InboundHandler) -> None:
        self.starts += 1
        if self.hang:
            await anyio.sleep_forever()
        if self.starts <= self.fail_starts:
            raise ChannelError(f"{self.name} cannot connect")
        self._stopped = anyio.Event()

    def die(self, error: BaseException) -> None:
        self._error = error
        self._stopped.set()

    async def wait_stopped(self) -> BaseException | None:
        await self._stopped.wait()
        return self._error

    async def send(self, message: OutboundMessage) -> None:
        return None

    async def typing(self, message: InboundMessage) -> None:
        return None

    async def aclose(self) -> None:
        self.closes += 1
        if self.name == "bad-close":
            raise RuntimeError("close failed")


async def handler(message: InboundMessage) -> None:
    return None


def quick() -> Backoff:
    return Backoff(initial=0.01, cap=0.02)


async def until(predicate: object) -> None:
    with anyio.fail_after(5):
        while not predicate():  # type: ignore[operator]  # noqa: ASYNC110
            await anyio.sleep(0.01)


async def test_a_failing_channel_is_retried_while_the_others_run() -> None:
    good, bad = StubChannel("good"), StubChannel("bad", fail_starts=3)
    async with ChannelSupervisor([good, bad], lambda _: handler, backoff=quick) as sup:
        await sup.wait_started()
        first = {s.name: s for s in sup.status()}
        assert first["good"].state == "running"
        assert first["bad"].state in ("failed", "starting")
        await until(lambda: bad.starts == 4 and sup.status()[1].state == "running")
        status = sup.status()[1]
        assert (status.restarts, status.last_error) == (3, "bad cannot connect")
        assert good.starts == 1
    assert good.closes >= 1 and [s.state for s in sup.status()] == ["stopped", "stopped"]


async def test_a_channel_that_dies_is_restarted_and_reconnecting_is_reported() -> None:
    channel = StubChannel("tg")
    async with ChannelSupervisor([channel], lambda _: handler, backoff=quick) as sup:
        await sup.wait_started()
        channel.state, channel.last_error = "reconnecting", "network down"
        assert (sup.status()[0].state, sup.status()[0].last_error) == ("reconnecting", "network down")
        channel.state = "running"
        channel.die(ChannelError("token revoked"))
        await until(lambda: channel.starts == 2)
        await until(lambda: sup.status()[0].state == "running")
        assert sup.status()[0].restarts == 1 and sup.status()[0].last_error == "token revoked"


async def test_a_start_that_hangs_times_out_and_a_close_that_fails_is_contained() -> None:
    hung, bad_close = StubChannel("hung", hang=True), StubChannel("bad-close")
    # The healthy channel starts at once, but on a loaded machine "at once" may take a while: the
    # cap is long enough for it and still short for the test, which waits for the hung one to hit it.
    sup = ChannelSupervisor([hung, bad_close], lambda _: handler, start_timeout=1.0, backoff=quick)
    async with sup:
        await sup.wait_started()
        await until(lambda: sup.status()[0].restarts >= 1)
        assert "start took over" in (sup.status()[0].last_error or "")
        assert sup.status()[1].state == "running"


async def test_backoff_grows_to_its_cap_and_resets() -> None:
    b = Backoff(initial=1, factor=2, cap=30, jitter=0)
    assert [b.next() for _ in range(7)] == [1, 2, 4, 8, 16, 30, 30]
    b.reset()
    assert b.next() == 1
    jittered = Backoff(initial=10, jitter=0.1)
    assert 9 <= jittered.next() <= 10
    with pytest.raises(ValueError):
        Backoff(initial=0)
