"""The parts of the SessionStore contract every backend applies the same way.

Backends call these so that message ids, in-batch de-duplication and the shape of a reset
session cannot drift apart between SQLite, JSON files, PostgreSQL and memory.
"""

from __future__ import annotations

import uuid
from collections.abc import Container, Sequence

import msgspec

from rustyclaw.domain.errors import StorageError
from rustyclaw.domain.messages import ChatMessage, SessionEntry


def new_message_id() -> str:
    return uuid.uuid4().hex


def prepare_batch(messages: Sequence[ChatMessage], stored_inbound: Container[str] = ()) -> list[ChatMessage]:
    """Messages to store, in order: ids filled in, repeated inbound ids dropped.

    A message is dropped when its `inbound_id` is in `stored_inbound` (already in the session)
    or appeared earlier in this batch. Messages that needed an id are copies; the caller's
    objects are never changed.
    """
    seen: set[str] = set()
    batch: list[ChatMessage] = []
    for message in messages:
        inbound_id = message.inbound_id
        if inbound_id is not None:
            if inbound_id in seen or inbound_id in stored_inbound:
                continue
            seen.add(inbound_id)
        if not message.id:
            message = msgspec.structs.replace(message, id=new_message_id())
        batch.append(message)
    return batch


def import_batch(
    messages: Sequence[ChatMessage], stored_ids: Container[str], stored_inbound: Container[str] = ()
) -> list[ChatMessage]:
    """Messages `import_archived` adds, in order: `prepare_batch`, minus every message whose id is
    already stored or came earlier in the batch (what makes a repeated import store nothing)."""
    seen: set[str] = set()
    batch: list[ChatMessage] = []
    for message in prepare_batch(messages, stored_inbound):
        if message.id in stored_ids or message.id in seen:
            continue
        seen.add(message.id)
        batch.append(message)
    return batch


def archived_fallback_key(agent_id: str, session_id: str) -> str:
    """The key an archived transcript gets when its file does not record the one it had."""
    return f"agent:{agent_id}:archived:{session_id}"


def entry_after_reset(entry: SessionEntry, new_session_id: str, now: float) -> SessionEntry:
    """The index entry a key gets when its transcript is archived and a new one begins.

    Kept: where the session lives and how it talks (agent, chat type, channel and last route,
    model override, elevated level, tts, meta). Started over: timestamps, token counters and the
    compaction count, which all describe the old transcript.
    """
    if new_session_id == entry.session_id:
        raise StorageError(
            f"cannot reset session {entry.key!r}: the new session id {new_session_id!r} is the current one"
        )
    return msgspec.structs.replace(
        entry,
        session_id=new_session_id,
        created_at=now,
        updated_at=now,
        input_tokens=0,
        output_tokens=0,
        total_tokens=0,
        context_tokens=0,
        compaction_count=0,
        meta=dict(entry.meta),
    )
