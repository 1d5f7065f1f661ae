"""Exponential backoff with jitter, for reconnect loops and channel restarts."""

from __future__ import annotations

import random


class Backoff:
    """Delays of `initial * factor**n`, capped at `cap`, each shortened by up to `jitter` (a share).

    Jitter spreads reconnects of many clients after a shared outage; `reset()` after a success.
    """

    def __init__(
        self, initial: float = 1.0, factor: float = 2.0, cap: float = 30.0, jitter: float = 0.1
    ) -> None:
        if initial <= 0 or factor < 1 or cap < initial or not 0 <= jitter < 1:
            raise ValueError("backoff needs initial > 0, factor >= 1, cap >= initial, 0 <= jitter < 1")
        self.initial = initial
        self.factor = factor
        self.cap = cap
        self.jitter = jitter
        self.attempts = 0

    def next(self) -> float:
        base = min(self.cap, self.initial * self.factor ** min(self.attempts, 64))
        self.attempts += 1
        return base * (1 - self.jitter * random.random())

    def reset(self) -> None:
        self.attempts = 0
