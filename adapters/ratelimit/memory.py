"""The in-process RateCounter: the domain's sliding windows, for a single gateway (sqlite, json)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rustyclaw.domain.access import RateLimit, SenderRateLimiter
from rustyclaw.ports.clock import Clock
from rustyclaw.ports.rate_limit import RateCounter, RateKey, RateOutcome


class MemoryRateCounter:
    """Windows on the Clock's monotonic time, forgotten with the process."""

    def __init__(self, clock: Clock) -> None:
        self._limiter = SenderRateLimiter(clock)

    async def hit(self, key: RateKey, limit: RateLimit) -> RateOutcome:
        return self._limiter.hit(key, limit)


if TYPE_CHECKING:
    _conforms: type[RateCounter] = MemoryRateCounter
