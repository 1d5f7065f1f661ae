"""What every push channel does with what it receives: answer each message once, in a task of its
own, a bounded number at a time, and end those tasks when the channel closes."""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Hashable

from rustyclaw.domain.messages import InboundMessage
from rustyclaw.ports.channel import InboundHandler

log = logging.getLogger("rustyclaw.channels")


class RecentIds:
    """The last `limit` platform ids seen, so that a redelivery is answered once."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._seen: OrderedDict[Hashable, None] = OrderedDict()

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

    A failing handler is logged and never reaches the channel's receive loop; `stop()` gives the
    running turns `grace` seconds (a webhook already acknowledged its messages) and cancels the rest.
    """

    def __init__(self, channel: str, max_concurrent: int) -> None:
        self.channel = channel
        self.handler: InboundHandler | None = None
        self._limit = asyncio.Semaphore(max_concurrent)
        self._inflight: set[asyncio.Task[None]] = set()

    def submit(self, message: InboundMessage) -> None:
        task = asyncio.create_task(self._deliver(message))
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)

    async def _deliver(self, message: InboundMessage) -> None:
        handler = self.handler
        if handler is None:
            return
        async with self._limit:
            try:
                await handler(message)
            except Exception:
                log.exception("handling a %s message failed", self.channel, extra={"peer": message.peer_id})

    async def stop(self, *others: asyncio.Task[None] | None, grace: float = 0.0) -> None:
        """Ends the running turns (and `others`, the channel's own loop tasks)."""
        running = list(self._inflight)
        if running and grace > 0:
            _, still = await asyncio.wait(running, timeout=grace)
            running = list(still)
        tasks = [t for t in (*others, *running) if t is not None]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        self._inflight.clear()
