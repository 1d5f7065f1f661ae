"""In-memory session store for tests and demos: the full contract, nothing written to disk."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import msgspec

from rustyclaw.adapters.storage.locks import KeyedLocks
from rustyclaw.adapters.storage.rules import entry_after_reset, import_batch, prepare_batch
from rustyclaw.domain.errors import StorageError
from rustyclaw.domain.messages import ChatMessage, SessionEntry
from rustyclaw.ports.archive import ArchivedTranscript
from rustyclaw.ports.storage import StorageBackend

_encoder = msgspec.msgpack.Encoder()
_entry_decoder = msgspec.msgpack.Decoder(SessionEntry)
_message_decoder = msgspec.msgpack.Decoder(ChatMessage)


@dataclass
class MemoryData:
    """Everything a MemoryStore holds; share one between stores to 'reopen' the same data.

    Values are kept encoded, as a real backend would keep them, so that neither the caller nor
    the store can change the other's objects after the fact.
    """

    sessions: dict[str, bytes] = field(default_factory=dict)
    transcripts: dict[str, list[bytes]] = field(default_factory=dict)
    inbound: dict[str, set[str]] = field(default_factory=dict)
    # session id -> the record of its transcript, archived by a reset (frozen, safe to share)
    archived: dict[str, ArchivedTranscript] = field(default_factory=dict)


class MemoryStore:
    """SessionStore kept in process memory, with the same semantics as the durable backends
    (inbound de-duplication, reset archives the old transcript, turn locks per key).

    Data lives as long as its `MemoryData`; `aclose()` keeps it, so a new store given the same
    `MemoryData` sees everything, like reopening a file.
    """

    def __init__(self, data: MemoryData | None = None) -> None:
        self.data = data if data is not None else MemoryData()
        self._open = False
        self._turn_locks = KeyedLocks()

    async def start(self) -> None:
        self._open = True

    async def aclose(self) -> None:
        self._open = False

    async def get_session(self, key: str) -> SessionEntry | None:
        raw = self._data().sessions.get(key)
        return None if raw is None else _entry_decoder.decode(raw)

    async def put_session(self, entry: SessionEntry) -> None:
        data = self._data()
        old = data.sessions.get(entry.key)
        if old is not None:
            previous = _entry_decoder.decode(old)
            if previous.session_id != entry.session_id:
                data.archived.setdefault(
                    previous.session_id,
                    ArchivedTranscript(
                        session_key=previous.key,
                        session_id=previous.session_id,
                        agent_id=previous.agent_id,
                        archived_at=entry.updated_at,
                        created_at=previous.created_at,
                    ),
                )
        data.archived.pop(entry.session_id, None)
        data.sessions[entry.key] = _encode(entry, f"session {entry.key!r}")

    async def list_sessions(self, agent_id: str | None = None) -> list[SessionEntry]:
        entries = [_entry_decoder.decode(raw) for _, raw in sorted(self._data().sessions.items())]
        return [e for e in entries if agent_id is None or e.agent_id == agent_id]

    async def append_messages(
        self, entry: SessionEntry, messages: Sequence[ChatMessage]
    ) -> list[ChatMessage]:
        data = self._data()
        inbound = data.inbound.setdefault(entry.session_id, set())
        batch = prepare_batch(messages, inbound)
        # Encode everything before storing anything, so a bad message stores none of the batch.
        encoded = [_encode(m, f"message {m.id!r} of session {entry.session_id!r}") for m in batch]
        data.transcripts.setdefault(entry.session_id, []).extend(encoded)
        inbound.update(m.inbound_id for m in batch if m.inbound_id is not None)
        return [_message_decoder.decode(raw) for raw in encoded]

    async def load_messages(self, entry: SessionEntry) -> list[ChatMessage]:
        stored = self._data().transcripts.get(entry.session_id, ())
        return [_message_decoder.decode(raw) for raw in stored]

    async def load_messages_from(self, entry: SessionEntry, start: int) -> list[ChatMessage]:
        stored = self._data().transcripts.get(entry.session_id, [])
        return [_message_decoder.decode(raw) for raw in stored[max(0, start):]]

    async def has_inbound(self, entry: SessionEntry, inbound_id: str) -> bool:
        return inbound_id in self._data().inbound.get(entry.session_id, ())

    async def reset_session(self, key: str, new_session_id: str, now: float) -> SessionEntry:
        current = await self.get_session(key)
        if current is None:
            raise StorageError(f"cannot reset session {key!r}: it is not in the memory store")
        fresh = entry_after_reset(current, new_session_id, now)
        await self.put_session(fresh)
        return fresh

    def turn_lock(self, key: str) -> AbstractAsyncContextManager[None]:
        return self._turn_locks.hold(key)

    async def list_archived(self, agent_id: str | None = None) -> list[ArchivedTranscript]:
        data = self._data()
        found = [
            a
            for a in data.archived.values()
            if (agent_id is None or a.agent_id == agent_id) and data.transcripts.get(a.session_id)
        ]
        found.sort(key=lambda a: (a.session_key, a.archived_at, a.session_id))
        return found

    async def load_archived(self, archived: ArchivedTranscript) -> list[ChatMessage]:
        stored = self._data().transcripts.get(archived.session_id, ())
        return [_message_decoder.decode(raw) for raw in stored]

    async def import_archived(self, archived: ArchivedTranscript, messages: Sequence[ChatMessage]) -> None:
        data = self._data()
        if not messages:
            return
        sid = archived.session_id
        if any(_entry_decoder.decode(raw).session_id == sid for raw in data.sessions.values()):
            raise StorageError(f"cannot import archived transcript {sid!r}: it is a live session in the memory store")
        stored = data.transcripts.get(sid, [])
        have = {_message_decoder.decode(raw).id for raw in stored}
        inbound = data.inbound.setdefault(sid, set())
        batch = import_batch(messages, have, inbound)
        encoded = [_encode(m, f"message {m.id!r} of archived session {sid!r}") for m in batch]
        data.archived.setdefault(sid, archived)
        data.transcripts.setdefault(sid, []).extend(encoded)
        inbound.update(m.inbound_id for m in batch if m.inbound_id is not None)

    def is_archived(self, session_id: str) -> bool:
        return session_id in self._data().archived

    def _data(self) -> MemoryData:
        if not self._open:
            raise StorageError("memory store is not open (call start() first; or it was closed)")
        return self.data


def _encode(value: SessionEntry | ChatMessage, what: str) -> bytes:
    try:
        return _encoder.encode(value)
    except (TypeError, msgspec.EncodeError) as exc:
        raise StorageError(f"{what} cannot be stored: {exc}") from exc


if TYPE_CHECKING:
    _conforms: type[StorageBackend] = MemoryStore
