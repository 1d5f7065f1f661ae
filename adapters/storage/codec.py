"""JSON text for the structured fields of stored rows (tool calls, meta), via msgspec.

Empty values encode to None (SQL NULL) so that the common message, which has neither, costs
nothing to store or to read back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import msgspec

from rustyclaw.domain.errors import CorruptDataError, StorageError
from rustyclaw.domain.messages import ToolCall

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
