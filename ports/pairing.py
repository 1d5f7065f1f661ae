"""Where pairing requests and approved senders are kept, per channel."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

import msgspec

T = TypeVar("T")


class PairingRequest(msgspec.Struct, kw_only=True):
    """A pending pairing code for one sender of one channel (OpenClaw's `<channel>-pairing.json` row)."""

    sender_id: str
    code: str
    created_at: float
    last_seen_at: float
    sender_name: str = ""
    account: str = "default"


class PairingStore(Protocol):
    """Pending codes and approved senders, per channel.

    `update_pending` runs `change` on the channel's pending list and saves what it leaves there,
    atomically with respect to other callers (other tasks and, for file stores, other processes
    such as `rustyclaw pairing approve`), and returns what `change` returned. Approved senders
    are a set of sender ids; adding one that is already there is a no-op.
    """

    async def list_pending(self, channel: str) -> list[PairingRequest]: ...

    async def update_pending(self, channel: str, change: Callable[[list[PairingRequest]], T]) -> T: ...

    async def approved(self, channel: str) -> frozenset[str]: ...

    async def add_approved(self, channel: str, sender_id: str) -> None: ...

    async def channels(self) -> list[str]:
        """Channels that have pending requests or approved senders on record."""
        ...
