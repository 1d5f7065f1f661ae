"""The leader lease port: one holder at a time of a named lease, for duties that must not run twice.

Contract (tests/integration/test_pg_leader.py):
- `acquire()` takes the lease when it is free or expired, or renews it when this holder has it;
  it returns a `LeaseGrant` (held for `ttl_seconds` from before the call was sent) or None when
  another holder's unexpired lease stands. It raises StorageError when the backend cannot answer,
  which tells the caller nothing about who holds the lease.
- `release()` gives the lease up at once if this holder has it (a clean stop), so another holder
  need not wait for the expiry; `aclose()` frees the backend's resources without releasing (after
  a crash the lease simply expires).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class LeaseGrant:
    """The lease is this holder's; `term` changes each time the lease changes hands."""

    term: int


class LeaderLease(Protocol):
    name: str
    holder: str
    ttl_seconds: float

    async def start(self) -> None: ...

    async def acquire(self) -> LeaseGrant | None: ...

    async def release(self) -> None: ...

    async def aclose(self) -> None: ...
