"""Fuzzing the transcript readers: OpenClaw-style JSONL bytes and transcript entries either read or
fail with the store's own errors (CorruptDataError, FormatError), whatever the bytes."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from rustyclaw.adapters.storage.jsonl import _scan
from rustyclaw.adapters.storage.openclaw_format import FormatError, chat_message, inbound_of, session_entry
from rustyclaw.domain.errors import CorruptDataError
from tests.fuzz.conftest import FUZZ

json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20)),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)),
    max_leaves=15,
)
entry_keys = st.sampled_from(["type", "id", "parentId", "timestamp", "message", "role", "content", "text",
                              "toolCallId", "toolName", "arguments", "usage", "customType", "data", "x"])
entries = st.dictionaries(entry_keys, json_values | st.sampled_from(
    ["message", "user", "assistant", "toolResult", "custom", "session", "model_change"]), max_size=6)


@FUZZ
@given(st.lists(st.one_of(entries.map(lambda e: msgspec.json.encode(e)), st.binary(max_size=40)), max_size=8),
       st.booleans())
def test_jsonl_bytes_read_or_fail_as_corrupt_data(lines: list[bytes], final_newline: bool) -> None:
    data = b"\n".join(lines) + (b"\n" if final_newline else b"")
    try:
        scan = _scan(data, 0, 1, Path("fuzz.jsonl"))
    except CorruptDataError:
        return
    assert all(isinstance(entry, dict) for entry in scan.entries)


@FUZZ
@given(entries | st.dictionaries(entry_keys, entries, max_size=3))
def test_any_transcript_entry_reads_or_fails_as_a_format_error(entry: dict[str, Any]) -> None:
    with contextlib.suppress(FormatError):
        chat_message(entry)
        inbound_of(entry)


@FUZZ
@given(st.text(max_size=30), json_values)
def test_any_index_value_reads_or_fails_as_a_format_error(key: str, value: Any) -> None:
    with contextlib.suppress(FormatError):
        session_entry(key, "main", value)
