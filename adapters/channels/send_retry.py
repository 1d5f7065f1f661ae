"""Retrying one platform send: transient failures (network, 5xx, 429) with backoff, honouring the
platform's `retry_after`; a permanent one (blocked, chat gone, bad request) is raised at once.

Channels wrap each piece they send (one text piece, one voice note) so a retry never repeats the
pieces that went out already. What still fails after `attempts` is raised as DeliveryError and the
dispatcher records it in the journal (`failed`) and the log.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import anyio

from rustyclaw.adapters.channels.backoff import Backoff
from rustyclaw.domain.errors import DeliveryError

log = logging.getLogger("rustyclaw.channels")
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class SendRetry:
    """`attempts` tries in all; waits from `initial_delay` doubling to `max_delay`; a platform's
    retry_after beyond `max_retry_after` is not waited for (the send fails instead)."""

    attempts: int = 4
    initial_delay: float = 1.0
    max_delay: float = 30.0
    max_retry_after: float = 120.0


async def send_with_retry(
    send: Callable[[], Awaitable[T]], what: str, policy: SendRetry,
    sleep: Callable[[float], Awaitable[object]] = anyio.sleep,
) -> T:
    backoff = Backoff(initial=policy.initial_delay, cap=max(policy.max_delay, policy.initial_delay))
    attempt = 1
    while True:
        try:
            return await send()
        except DeliveryError as exc:
            if not exc.transient or attempt >= policy.attempts:
                raise
            if exc.retry_after is not None and exc.retry_after > policy.max_retry_after:
                raise
            delay = exc.retry_after if exc.retry_after is not None else backoff.next()
            log.warning("%s failed (%s); try %d of %d in %.1f s", what, exc, attempt + 1, policy.attempts, delay)
            await sleep(delay)
            attempt += 1
