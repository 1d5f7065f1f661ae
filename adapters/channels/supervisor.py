"""Runs every push channel in its own task: a channel that fails never takes the others down.

A channel that cannot start (bad token, platform down) or whose receive loop dies is logged,
reported by `status()` and started again after an exponential backoff (capped at 30 s). A
channel may expose these optional members, which the supervisor uses when present:
- `async wait_stopped() -> BaseException | None`: returns when the receive loop has ended on
  its own (None after `aclose()`); without it a started channel counts as running until closed;
- `state: str` and `last_error: str | None`: "reconnecting" while its own loop retries.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, Literal

import anyio
import msgspec
from anyio.abc import TaskGroup

from rustyclaw.adapters.channels.backoff import Backoff
from rustyclaw.ports.channel import Channel, InboundHandler

log = logging.getLogger("rustyclaw.channels")

# "standby": under gateway.replicas, a channel another replica (the leader) runs.
State = Literal["starting", "running", "reconnecting", "failed", "stopped", "standby"]


class ChannelStatus(msgspec.Struct, kw_only=True):
    """One channel as the supervisor sees it (`/status`, `/readyz` details, logs)."""

    name: str
    account: str = "default"
    state: State = "starting"
    last_error: str | None = None
    restarts: int = 0
    retry_in: float | None = None


def describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."


class ChannelSupervisor:
    """Starts `channels`, each with `handler_factory(channel)` (usually a ChannelDispatcher).

    Use as `async with ChannelSupervisor(...) as supervisor:`; leaving the block closes every
    channel. `start_timeout` bounds one start attempt; `backoff` makes each channel's delays.
    """

    def __init__(
        self,
        channels: Sequence[Channel],
        handler_factory: Callable[[Channel], InboundHandler],
        *,
        start_timeout: float = 30.0,
        backoff: Callable[[], Backoff] = Backoff,
    ) -> None:
        self._channels = list(channels)
        self._handler_factory = handler_factory
        self._start_timeout = start_timeout
        self._backoff = backoff
        self._status = {
            id(c): ChannelStatus(name=c.name, account=str(getattr(c, "account", "default")))
            for c in self._channels
        }
        self._tg: TaskGroup | None = None
        self._started = anyio.Event()
        self._pending_first = len(self._channels)

    @property
    def channels(self) -> list[Channel]:
        return list(self._channels)

    def status(self) -> list[ChannelStatus]:
        """A snapshot per channel; a running channel whose own loop is retrying shows "reconnecting"."""
        found = []
        for channel in self._channels:
            entry = msgspec.structs.replace(self._status[id(channel)])
            if entry.state == "running" and getattr(channel, "state", "running") == "reconnecting":
                entry.state = "reconnecting"
                entry.last_error = getattr(channel, "last_error", None) or entry.last_error
            found.append(entry)
        return found

    async def __aenter__(self) -> ChannelSupervisor:
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        for channel in self._channels:
            self._tg.start_soon(self._supervise, channel, name=f"channel:{channel.name}")
        return self

    async def wait_started(self) -> None:
        """Returns once every channel has made its first start attempt (succeeded or failed)."""
        if self._pending_first == 0:
            return
        await self._started.wait()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        tg = self._tg
        self._tg = None
        if tg is None:
            return None
        tg.cancel_scope.cancel()
        try:
            return await tg.__aexit__(exc_type, exc, tb)
        finally:
            with anyio.CancelScope(shield=True):
                for channel in self._channels:
                    await self._close(channel)
                    self._status[id(channel)].state = "stopped"

    def _first_attempt_done(self, done: list[bool]) -> None:
        if not done[0]:
            done[0] = True
            self._pending_first -= 1
            if self._pending_first == 0:
                self._started.set()

    async def _supervise(self, channel: Channel) -> None:
        status = self._status[id(channel)]
        backoff = self._backoff()
        handler = self._handler_factory(channel)
        first = [False]
        while True:
            status.state = "starting"
            status.retry_in = None
            error: BaseException | None = None
            try:
                with anyio.fail_after(self._start_timeout):
                    await channel.start(handler)
            except TimeoutError as exc:
                error = exc if str(exc) else TimeoutError(f"start took over {self._start_timeout:.0f} s")
            except Exception as exc:  # isolation: whatever a channel raises stays in its task
                error = exc
            self._first_attempt_done(first)
            if error is None:
                status.state = "running"
                log.info("channel %s running", channel.name)
                error = await self._wait_stopped(channel)
                if error is None:
                    status.state = "stopped"
                    return
                backoff.reset()
            status.state = "failed"
            status.last_error = describe(error)
            status.restarts += 1
            await self._close(channel)
            delay = backoff.next()
            status.retry_in = round(delay, 2)
            log.error("channel %s failed: %s; retrying in %.1f s", channel.name, status.last_error, delay)
            await anyio.sleep(delay)

    async def _wait_stopped(self, channel: Channel) -> BaseException | None:
        waiter: Any = getattr(channel, "wait_stopped", None)
        if waiter is None:
            await anyio.sleep_forever()
        try:
            result = await waiter()
        except Exception as exc:
            return exc
        return result if isinstance(result, BaseException) else None

    async def _close(self, channel: Channel) -> None:
        try:
            await channel.aclose()
        except Exception as exc:
            log.warning("closing channel %s failed: %s", channel.name, describe(exc))
