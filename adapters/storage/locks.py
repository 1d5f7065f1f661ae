"""In-process locks the storage backends share: per-key turn locks and a transaction gate."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from types import TracebackType

import anyio


class _Slot:
    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock = anyio.Lock()
        # Holders plus waiters; the slot is dropped when it falls to zero so that a gateway
        # serving many short-lived sessions does not keep one lock per key forever.
        self.users = 0


class _KeyHold:
    __slots__ = ("_key", "_owner", "_slot")

    def __init__(self, owner: KeyedLocks, key: str) -> None:
        self._owner = owner
        self._key = key
        self._slot: _Slot | None = None

    async def __aenter__(self) -> None:
        slots = self._owner._slots
        slot = slots.get(self._key)
        if slot is None:
            slot = slots[self._key] = _Slot()
        slot.users += 1
        try:
            await slot.lock.acquire()
        except BaseException:
            self._owner._leave(self._key, slot)
            raise
        self._slot = slot

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        slot = self._slot
        assert slot is not None, "released a turn lock that was never taken"
        self._slot = None
        slot.lock.release()
        self._owner._leave(self._key, slot)


class KeyedLocks:
    """One lock per key, created on first use and dropped once nobody holds or waits for it.

    `hold(key)` returns a fresh async context manager each call; holders of different keys never
    wait for each other. Locks are not reentrant and only exclude tasks of this process.
    """

    def __init__(self) -> None:
        self._slots: dict[str, _Slot] = {}

    def hold(self, key: str) -> AbstractAsyncContextManager[None]:
        return _KeyHold(self, key)

    def is_held(self, key: str) -> bool:
        slot = self._slots.get(key)
        return slot is not None and slot.lock.locked()

    def __len__(self) -> int:
        return len(self._slots)

    def _leave(self, key: str, slot: _Slot) -> None:
        slot.users -= 1
        if slot.users == 0 and self._slots.get(key) is slot:
            del self._slots[key]


class _Exclusive:
    __slots__ = ("_done", "_gate")

    def __init__(self, gate: TransactionGate) -> None:
        self._gate = gate
        self._done: anyio.Event | None = None

    async def __aenter__(self) -> None:
        await self._gate._lock.acquire()
        self._done = self._gate._open = anyio.Event()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        done = self._done
        assert done is not None
        self._gate._open = None
        done.set()
        self._gate._lock.release()


class TransactionGate:
    """Keeps single statements out of a multi-statement transaction on a shared connection.

    Made for a connection that runs submitted work strictly in submission order on one worker
    (aiosqlite's thread). Work submitted before `exclusive()` was entered runs before the
    transaction's BEGIN, so the transaction need not wait for it; work submitted while the
    transaction is open would run inside it, so `await gate.wait_clear()` must come immediately
    before every submission outside a transaction (no other await in between). Exclusive holders
    queue on a lock, so transactions never nest.
    """

    def __init__(self) -> None:
        self._lock = anyio.Lock()
        self._open: anyio.Event | None = None

    async def wait_clear(self) -> None:
        # The loop re-checks because another transaction may open before this task runs again.
        while self._open is not None:
            await self._open.wait()

    def exclusive(self) -> AbstractAsyncContextManager[None]:
        return _Exclusive(self)
