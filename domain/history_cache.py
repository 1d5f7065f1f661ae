"""The transcripts of recently active sessions, bounded by count and by estimated size (LRU).

A count bound alone lets memory grow with the sessions' length (64 long transcripts stay in
memory however long they get: benchmarks/README.md measured +0.8 MB RSS per 1,000 messages), so
the cache also holds at most about `max_bytes` of messages. Least recently used sessions go first;
the session used last always stays, even alone over the budget, so that a long session's next
turn does not reload its whole transcript from the store.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

from rustyclaw.domain.messages import ChatMessage

DEFAULT_MAX_SESSIONS = 64
# About 2,400 short chat messages (measured ~430 bytes each with tracemalloc) or a few hundred
# pages of text: enough for the turns in flight, small beside the gateway's ~55 MB idle RSS.
DEFAULT_MAX_BYTES = 1 << 20

# A stored ChatMessage's fixed cost (the struct, its id, its empty meta dict; measured ~400 bytes
# with short content), and what one meta key adds.
_MESSAGE_OVERHEAD = 400
_META_ITEM = 100


def message_size(message: ChatMessage) -> int:
    """An estimate of the bytes a cached message holds (text counted one byte a character)."""
    size = _MESSAGE_OVERHEAD + len(message.content) + _META_ITEM * len(message.meta)
    for call in message.tool_calls:
        size += _MESSAGE_OVERHEAD + len(call.name) + len(call.arguments)
    return size


class _Transcript:
    __slots__ = ("messages", "size")

    def __init__(self, messages: list[ChatMessage]) -> None:
        self.messages = messages
        self.size = sum(message_size(m) for m in messages)


class HistoryCache:
    """session id -> its transcript, least recently used first."""

    def __init__(self, max_sessions: int = DEFAULT_MAX_SESSIONS, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        if max_sessions < 1:
            raise ValueError(f"history cache: max_sessions must be at least 1, got {max_sessions}")
        if max_bytes < 0:
            raise ValueError(f"history cache: max_bytes must not be negative, got {max_bytes}")
        self.max_sessions = max_sessions
        self.max_bytes = max_bytes
        self._entries: OrderedDict[str, _Transcript] = OrderedDict()
        self._size = 0

    @property
    def size(self) -> int:
        """The estimated bytes held now."""
        return self._size

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, session_id: str) -> bool:
        return session_id in self._entries

    def get(self, session_id: str) -> list[ChatMessage] | None:
        """The cached transcript (the live list), marked as used last; None when not cached."""
        found = self._entries.get(session_id)
        if found is None:
            return None
        self._entries.move_to_end(session_id)
        return found.messages

    def put(self, session_id: str, messages: list[ChatMessage]) -> list[ChatMessage]:
        """Caches `messages` (kept as the live list) as used last, evicting what falls out."""
        self.discard(session_id)
        entry = self._entries[session_id] = _Transcript(messages)
        self._size += entry.size
        self._evict()
        return messages

    def extend(self, session_id: str, messages: Iterable[ChatMessage]) -> None:
        """Appends to a cached transcript (nothing when it is not cached)."""
        entry = self._entries.get(session_id)
        if entry is None:
            return
        added = list(messages)
        entry.messages.extend(added)
        grown = sum(message_size(m) for m in added)
        entry.size += grown
        self._size += grown
        self._entries.move_to_end(session_id)
        self._evict()

    def discard(self, session_id: str) -> None:
        entry = self._entries.pop(session_id, None)
        if entry is not None:
            self._size -= entry.size

    def _evict(self) -> None:
        # The last used entry is never evicted here: see the module's docstring.
        while len(self._entries) > 1 and (len(self._entries) > self.max_sessions or self._size > self.max_bytes):
            _, dropped = self._entries.popitem(last=False)
            self._size -= dropped.size
