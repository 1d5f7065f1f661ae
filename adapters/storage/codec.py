"""JSON text for the structured fields of stored rows (tool calls, meta), via msgspec.

Empty values encode to None (SQL NULL) so that the common message, which has neither, costs
nothing to store or to read back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import msgspec

from rustyclaw.domain.errors import CorruptDataError, StorageError
from rustyclaw.domain.messages import ChatMessage, SessionEntry, ToolCall

_encoder = msgspec.json.Encoder()
_tool_calls_decoder = msgspec.json.Decoder(tuple[ToolCall, ...])
_meta_decoder = msgspec.json.Decoder(dict[str, Any])


def encode_tool_calls(calls: Sequence[ToolCall]) -> str | None:
    if not calls:
        return None
    return _encoder.encode(calls).decode()


def decode_tool_calls(raw: str | bytes | None, where: str) -> tuple[ToolCall, ...]:
    if not raw:
        return ()
    try:
        return _tool_calls_decoder.decode(raw)
    except msgspec.DecodeError as exc:
        raise CorruptDataError(f"unreadable tool_calls in {where}: {exc}") from exc


def encode_meta(meta: Mapping[str, Any], where: str) -> str | None:
    if not meta:
        return None
    try:
        return _encoder.encode(meta).decode()
    except (TypeError, msgspec.EncodeError) as exc:
        raise StorageError(f"meta of {where} cannot be stored as JSON: {exc}") from exc


def decode_meta(raw: str | bytes | None, where: str) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        return _meta_decoder.decode(raw)
    except msgspec.DecodeError as exc:
        raise CorruptDataError(f"unreadable meta in {where}: {exc}") from exc


# The SQL backends store a session as one row with SessionEntry's fields as columns, and a message
# as the columns below; both share this mapping so the two schemas cannot drift apart.
SESSION_COLUMNS: tuple[str, ...] = SessionEntry.__struct_fields__
_SESSION_META_AT = SESSION_COLUMNS.index("meta")


def session_row(entry: SessionEntry) -> list[Any]:
    values = list(msgspec.structs.astuple(entry))
    values[_SESSION_META_AT] = encode_meta(entry.meta, f"session {entry.key!r}")
    return values


def session_from_row(row: Sequence[Any], where: str) -> SessionEntry:
    values = dict(zip(SESSION_COLUMNS, row, strict=True))
    values["meta"] = decode_meta(values["meta"], f"session {values['key']!r} of {where}")
    return SessionEntry(**values)


def message_row(m: ChatMessage, where: str) -> tuple[Any, ...]:
    """Columns role, content, tool_calls, tool_call_id, name, id, created_at, tokens, inbound_id, meta."""
    return (
        m.role, m.content, encode_tool_calls(m.tool_calls), m.tool_call_id, m.name, m.id, m.created_at,
        m.tokens, m.inbound_id, encode_meta(m.meta, f"message {m.id!r} in {where}"),
    )


def message_from_row(row: Sequence[Any], where: str) -> ChatMessage:
    role, content, tool_calls, tool_call_id, name, id_, created_at, tokens, inbound_id, meta = row
    return ChatMessage(
        role=role,
        content=content,
        tool_calls=decode_tool_calls(tool_calls, f"message {id_!r} in {where}") if tool_calls else (),
        tool_call_id=tool_call_id,
        name=name,
        id=id_,
        created_at=created_at,
        tokens=tokens,
        inbound_id=inbound_id,
        meta=decode_meta(meta, f"message {id_!r} in {where}") if meta else {},
    )
