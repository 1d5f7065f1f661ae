"""Sessions: open or create by key, reset when stale, one turn at a time per session."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager

import anyio

from rustyclaw.domain.history_cache import DEFAULT_MAX_BYTES, DEFAULT_MAX_SESSIONS, HistoryCache
from rustyclaw.domain.messages import ChatMessage, InboundMessage, SessionEntry
from rustyclaw.domain.reset import is_stale, policy_for
from rustyclaw.domain.session_keys import agent_of
from rustyclaw.domain.settings import SessionSettings
from rustyclaw.ports.clock import Clock
from rustyclaw.ports.session_store import SessionStore
from rustyclaw.ports.turn_lock import TurnLock


def new_session_id() -> str:
    return str(uuid.uuid4())


class _KeyLock:
    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock = anyio.Lock()
        self.users = 0


class SessionService:
    """Owns the per-session turn locks, the running turns (for /stop) and a history cache.

    The cache keeps the transcripts of recently active sessions in memory so that a turn does
    not reload and recount a long history; it is bounded to `cache_sessions` sessions and about
    `cache_bytes` of messages, least recently used first (domain/history_cache.py).
    `locks` is the TurnLock port (the backend's own, which may exclude other processes too);
    without one, turns of a session exclude each other in this process only.
    `shared`: other processes append to the same store (gateway replicas), so a cached transcript
    may miss the turns another replica made since; `history()` and `append()` then first read what
    the store has past the cached end (`load_messages_from`). That keeps a cached transcript a
    prefix of the stored one: transcripts are append-only, and appends of one session are
    serialised by the turn lock across processes.
    """

    def __init__(
        self,
        store: SessionStore,
        clock: Clock,
        settings: SessionSettings,
        *,
        locks: TurnLock | None = None,
        cache_sessions: int = DEFAULT_MAX_SESSIONS,
        cache_bytes: int = DEFAULT_MAX_BYTES,
        id_factory: Callable[[], str] = new_session_id,
        shared: bool = False,
    ) -> None:
        self.store = store
        self._shared = shared
        self._turn_locks = locks
        self.settings = settings
        self._clock = clock
        self._new_id = id_factory
        self._locks: dict[str, _KeyLock] = {}
        self._running: dict[str, anyio.CancelScope] = {}
        self._history = HistoryCache(cache_sessions, cache_bytes)
        # The store's one-transaction tail of a turn (ports/session_store.py TurnTailStore), if any.
        self._append_and_put: Callable[[SessionEntry, Sequence[ChatMessage]], Awaitable[list[ChatMessage]]] | None = (
            getattr(store, "append_and_put", None))
        # The store's one-read session + inbound-id lookup (ports/session_store.py InboundLookupStore), if any.
        self._get_session_seen: Callable[[str, str], Awaitable[tuple[SessionEntry | None, bool]]] | None = (
            getattr(store, "get_session_seen", None))

    @asynccontextmanager
    async def turn(self, key: str) -> AsyncIterator[None]:
        """Held for a whole turn: in-process lock first, then the store's (maybe cross-process) one."""
        slot = self._locks.get(key)
        if slot is None:
            slot = self._locks[key] = _KeyLock()
        slot.users += 1
        try:
            async with slot.lock:
                if self._turn_locks is None:
                    yield
                else:
                    async with self._turn_locks.turn_lock(key):
                        yield
        finally:
            slot.users -= 1
            if slot.users == 0:
                del self._locks[key]

    def busy(self, key: str) -> bool:
        return key in self._running

    @asynccontextmanager
    async def running(self, key: str) -> AsyncIterator[anyio.CancelScope]:
        """A cancel scope that /stop can cancel from outside the turn lock."""
        with anyio.CancelScope() as scope:
            self._running[key] = scope
            try:
                yield scope
            finally:
                self._running.pop(key, None)

    def stop(self, key: str) -> bool:
        scope = self._running.get(key)
        if scope is None:
            return False
        scope.cancel()
        return True

    async def open(self, key: str, message: InboundMessage) -> SessionEntry:
        """The session for `key`, created on first use and reset when its policy says it is stale."""
        return await self._open(key, message, await self.store.get_session(key))

    async def open_seen(self, key: str, message: InboundMessage) -> tuple[SessionEntry, bool]:
        """`open(key, message)` and whether the message's id is already in that session's transcript
        (False for a message without one, a new session or one just reset): one read of the store
        where it can (InboundLookupStore), two otherwise."""
        inbound_id = message.message_id
        if inbound_id is None:
            return await self.open(key, message), False
        lookup = self._get_session_seen
        if lookup is None:
            entry = await self.open(key, message)
            return entry, await self.store.has_inbound(entry, inbound_id)
        found, seen = await lookup(key, inbound_id)
        entry = await self._open(key, message, found)
        return entry, seen and entry.session_id == (found.session_id if found is not None else None)

    async def _open(self, key: str, message: InboundMessage, entry: SessionEntry | None) -> SessionEntry:
        now = self._clock.now()
        if entry is None:
            entry = SessionEntry(
                key=key,
                session_id=self._new_id(),
                agent_id=agent_of(key),
                created_at=now,
                updated_at=now,
                chat_type=message.chat_kind,
                channel=message.channel,
            )
            await self.store.put_session(entry)
            if not self._shared:
                # A new session id has no transcript yet: its first history() need not ask the store.
                # (Shared stores still ask: history() tops up from the store anyway.)
                self._history.put(entry.session_id, [])
            return entry
        policy = policy_for(self.settings, entry.channel, entry.chat_type)
        if is_stale(entry.updated_at, now, policy, self.settings.timezone, started_at=entry.created_at):
            return await self.reset(key)
        return entry

    async def reset(self, key: str) -> SessionEntry:
        entry = await self.store.get_session(key)
        if entry is not None:
            self._history.discard(entry.session_id)
        return await self.store.reset_session(key, self._new_id(), self._clock.now())

    async def history(self, entry: SessionEntry) -> list[ChatMessage]:
        cached = self._history.get(entry.session_id)
        if cached is None:
            return self._history.put(entry.session_id, await self.store.load_messages(entry))
        if self._shared:
            return await self._top_up(entry, cached)
        return cached

    async def _top_up(self, entry: SessionEntry, cached: list[ChatMessage]) -> list[ChatMessage]:
        """`cached` with what other processes appended past its end (shared stores only)."""
        newer = await self.store.load_messages_from(entry, len(cached))
        if not newer:
            return cached
        if self._history.get(entry.session_id) is cached:
            self._history.extend(entry.session_id, newer)
            return cached
        return [*cached, *newer]  # evicted while the store answered (other sessions' turns)

    async def append(self, entry: SessionEntry, messages: Sequence[ChatMessage]) -> list[ChatMessage]:
        """Stores durably, then extends the cached history with what was really stored.

        On a shared store the cache is topped up first: extending a cache that misses another
        replica's turns would put these messages before them (the cache is no longer a prefix)."""
        if self._shared and (cached := self._history.get(entry.session_id)) is not None:
            await self._top_up(entry, cached)
        stored = await self.store.append_messages(entry, messages)
        self._history.extend(entry.session_id, stored)
        return stored

    async def touch(self, entry: SessionEntry, message: InboundMessage) -> None:
        self._touched(entry, message)
        await self.store.put_session(entry)

    async def finish_turn(
        self, entry: SessionEntry, message: InboundMessage, messages: Sequence[ChatMessage]
    ) -> list[ChatMessage]:
        """`append(entry, messages)` then `touch(entry, message)`, in one store transaction where the
        store has one (TurnTailStore): the end of every turn, one commit and one round trip instead
        of two. Durable when it returns, as the two calls."""
        write = self._append_and_put
        if not messages or write is None:
            stored = await self.append(entry, messages) if messages else []
            await self.touch(entry, message)
            return stored
        if self._shared and (cached := self._history.get(entry.session_id)) is not None:
            await self._top_up(entry, cached)
        self._touched(entry, message)
        stored = await write(entry, messages)
        self._history.extend(entry.session_id, stored)
        return stored

    def _touched(self, entry: SessionEntry, message: InboundMessage) -> None:
        entry.updated_at = self._clock.now()
        entry.last_channel = message.channel
        entry.last_to = message.peer_id
        entry.last_account_id = message.account
