"""What every push channel does with what it receives: answer each message once, in a task of its
own, a bounded number at a time, and end those tasks when the channel closes."""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Coroutine, Hashable
from typing import Any

import anyio

from rustyclaw.domain.messages import InboundMessage
from rustyclaw.ports.channel import InboundHandler
from rustyclaw.ports.inbox import JournalingHandler

log = logging.getLogger("rustyclaw.channels")


class RecentIds:
    """The last `limit` platform ids seen, so that a redelivery is answered once."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._seen: OrderedDict[Hashable, None] = OrderedDict()

    def __contains__(self, key: Hashable) -> bool:
        return key in self._seen

    def first_time(self, key: Hashable) -> bool:
        if key in self._seen:
            return False
        self._seen[key] = None
        if len(self._seen) > self._limit:
            self._seen.popitem(last=False)
        return True

    def clear(self) -> None:
        self._seen.clear()


class InboundDelivery:
    """Runs `handler` for each submitted message in its own task, at most `max_concurrent` at once.

    A failing handler is logged and never reaches the channel's receive loop; `stop()` first ends
    the channel's own loops (nothing new comes in), then gives the running turns `grace` seconds
    (default: the handler's `drain_seconds`) and cancels the rest.

    With a journaling handler (ports/inbox.py's JournalingHandler, the ChannelDispatcher with an
    inbox), `accept` records each message before returning, and the channel acknowledges it to the
    platform only after that; `resume_unfinished` (called as the channel starts) answers what the
    journal holds from before a restart. A cancelled turn stays in the journal for the next start.
    """

    def __init__(self, channel: str, max_concurrent: int) -> None:
        self.channel = channel
        self.handler: InboundHandler | None = None
        self._limit = asyncio.Semaphore(max_concurrent)
        self._inflight: set[asyncio.Task[None]] = set()
        self._scopes: set[anyio.CancelScope] = set()

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(self._scoped(work))
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)

    async def _scoped(self, work: Coroutine[Any, Any, None]) -> None:
        # Stopped through an anyio cancel scope, not task.cancel(): the shielded steps inside a turn
        # (storing a message, a reply being sent and marked delivered) then finish as they must.
        scope = anyio.CancelScope()
        self._scopes.add(scope)
        try:
            with scope:
                await work
        finally:
            self._scopes.discard(scope)

    def submit(self, message: InboundMessage) -> None:
        self._spawn(self._deliver(message))

    async def accept(self, message: InboundMessage) -> bool:
        """Journals (when the handler does) and submits; False for a duplicate, which is dropped.
        Raises when the journal cannot record it: the channel must then not acknowledge it."""
        handler = self.handler
        if isinstance(handler, JournalingHandler) and not await handler.accept(message):
            log.info("%s message %s was accepted before; dropped", self.channel, message.message_id)
            return False
        self.submit(message)
        return True

    def resume_unfinished(self) -> None:
        """Starts answering the journal's unfinished messages of this channel (in the background)."""
        if isinstance(self.handler, JournalingHandler):
            self._spawn(self._resume(self.handler))

    async def _resume(self, handler: JournalingHandler) -> None:
        try:
            entries = await handler.unfinished()
        except Exception:
            log.exception("reading the %s journal failed; unfinished messages wait for the next start",
                          self.channel)
            return
        if entries:
            log.info("%s: answering %d message(s) left unanswered before the restart", self.channel, len(entries))
        for entry in entries:
            self._spawn(self._guarded(handler.resume(entry), entry.message))

    async def _guarded(self, work: Awaitable[None], message: InboundMessage) -> None:
        async with self._limit:
            try:
                await work
            except Exception:
                log.exception("handling a %s message failed", self.channel, extra={"peer": message.peer_id})

    async def _deliver(self, message: InboundMessage) -> None:
        handler = self.handler
        if handler is None:
            return
        await self._guarded(handler(message), message)

    async def stop(self, *others: asyncio.Task[None] | None, grace: float | None = None) -> None:
        """Ends `others` (the channel's own loop tasks) at once, then the running turns after `grace`."""
        loops = [t for t in others if t is not None]
        for task in loops:
            task.cancel()
        if loops:
            await asyncio.gather(*loops, return_exceptions=True)
        if grace is None:
            grace = float(getattr(self.handler, "drain_seconds", 0.0))
        running = list(self._inflight)
        if running and grace > 0:
            log.info("%s: letting %d running turn(s) finish (up to %.0f s)", self.channel, len(running), grace)
            _, still = await asyncio.wait(running, timeout=grace)
            running = list(still)
        for scope in list(self._scopes):
            scope.cancel()
        if running:
            await asyncio.gather(*running, return_exceptions=True)
            if isinstance(self.handler, JournalingHandler):
                log.warning("%s: %d turn(s) did not finish before the stop; they stay journaled and are "
                            "answered at the next start", self.channel, len(running))
        self._inflight.clear()
