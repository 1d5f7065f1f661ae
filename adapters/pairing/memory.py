"""An in-process PairingStore (tests, demos, a gateway without a state folder)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import anyio

from rustyclaw.ports.pairing import PairingRequest

T = TypeVar("T")


class MemoryPairingStore:
    """Keeps pending codes and approved senders in dicts; nothing survives the process."""

    def __init__(self) -> None:
        self._pending: dict[str, list[PairingRequest]] = {}
        self._approved: dict[str, set[str]] = {}
        self._lock = anyio.Lock()

    async def list_pending(self, channel: str) -> list[PairingRequest]:
        return list(self._pending.get(channel, []))

    async def update_pending(self, channel: str, change: Callable[[list[PairingRequest]], T]) -> T:
        async with self._lock:
            requests = list(self._pending.get(channel, []))
            result = change(requests)
            self._pending[channel] = requests
            return result

    async def approved(self, channel: str) -> frozenset[str]:
        return frozenset(self._approved.get(channel, ()))

    async def add_approved(self, channel: str, sender_id: str) -> None:
        self._approved.setdefault(channel, set()).add(sender_id)

    async def channels(self) -> list[str]:
        names = {c for c, reqs in self._pending.items() if reqs} | {c for c, s in self._approved.items() if s}
        return sorted(names)
