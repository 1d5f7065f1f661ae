"""OpenClaw's classic JSON shapes <-> our SessionEntry and ChatMessage.

Index entries (`sessions.json` values) and transcript entries (`<sessionId>.jsonl` lines) are
written the way OpenClaw's file-backed releases write them, so its tools read our files and we
read theirs. What OpenClaw has no field for (our exact float timestamps, token counts, inbound
ids, meta, the exact text of tool-call arguments) goes under one extra key, `rustyclaw`, which
OpenClaw ignores. Reading their files, fields we do not model are kept: unknown index fields
survive our rewrites of the entry, unknown message parts land in `meta["openclaw"]`.

Mapping of messages (transcript entry `type` / `message.role`):
- user -> `message` / `user`, content `[{"type": "text", "text": ...}]`
- assistant -> `message` / `assistant`; tool calls are content blocks
  `{"type": "toolCall", "id", "name", "arguments": {...}}`; `stopReason` is `toolUse` or `stop`
- tool -> `message` / `toolResult` with `toolCallId`, `toolName`, `isError: false`
- system with `meta["compaction"]` -> a `compaction` entry (`summary`, `firstKeptEntryId`,
  `tokensBefore`); other system messages -> a `custom` entry of customType `rustyclaw.system`,
  which OpenClaw keeps out of the model context (it rebuilds its own system prompt).
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from typing import Any

import msgspec

from rustyclaw.domain.messages import UNKNOWN_TOKENS, ChatKind, ChatMessage, SessionEntry, ToolCall

EXTRA = "rustyclaw"
SYSTEM_CUSTOM_TYPE = "rustyclaw.system"
TRANSCRIPT_VERSION = 3

_encoder = msgspec.json.Encoder()

# Index fields we write; everything else in an entry belongs to OpenClaw and is carried over.
_INDEX_FIELDS = frozenset(
    {
        "sessionId", "updatedAt", "sessionStartedAt", "sessionFile", "chatType", "channel",
        "lastChannel", "lastTo", "lastAccountId", "model", "modelProvider", "inputTokens",
        "outputTokens", "totalTokens", "contextTokens", "compactionCount", "elevatedLevel", EXTRA,
    }
)  # fmt: skip
_OPTIONAL_TEXT = (
    ("channel", "channel"),
    ("last_channel", "lastChannel"),
    ("last_to", "lastTo"),
    ("last_account_id", "lastAccountId"),
    ("model", "model"),
    ("model_provider", "modelProvider"),
)
_COUNTERS = (
    ("input_tokens", "inputTokens"),
    ("output_tokens", "outputTokens"),
    ("total_tokens", "totalTokens"),
    ("context_tokens", "contextTokens"),
    ("compaction_count", "compactionCount"),
)
_CHAT_TYPE_OUT: dict[str, str] = {"direct": "direct", "group": "group", "channel": "room", "thread": "group"}
_CHAT_TYPE_IN: dict[str, ChatKind] = {
    "direct": "direct", "dm": "direct", "group": "group", "room": "channel", "channel": "channel",
    "thread": "thread",
}  # fmt: skip


class FormatError(ValueError):
    """An entry has the wrong shape; the caller names the file and line."""


def iso_time(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


def _exact_ms(seconds: float) -> tuple[int, bool]:
    """Milliseconds for OpenClaw, and whether they give `seconds` back exactly."""
    ms = _ms(seconds)
    return ms, ms / 1000 == seconds


def _copy(value: Any) -> Any:
    return msgspec.json.decode(_encoder.encode(value))


# -- index ---------------------------------------------------------------------------------------


def index_value(entry: SessionEntry, session_file: str, previous: dict[str, Any] | None) -> dict[str, Any]:
    """The `sessions.json` value for `entry`; fields only OpenClaw knows are kept from `previous`."""
    value: dict[str, Any] = {}
    if previous:
        value.update((k, v) for k, v in previous.items() if k not in _INDEX_FIELDS)
    extra: dict[str, Any] = {}
    # updatedAt lives in OpenClaw's own field only (ms): OpenClaw updates it when it writes to a
    # shared store, and a copy of ours that it never touches would make idle resets fire on
    # sessions in use.
    updated_ms = _ms(entry.updated_at)
    started_ms, exact = _exact_ms(entry.created_at)
    if not exact:
        extra["createdAt"] = entry.created_at
    value["sessionId"] = entry.session_id
    value["updatedAt"] = updated_ms
    value["sessionStartedAt"] = started_ms
    value["sessionFile"] = session_file
    value["chatType"] = _CHAT_TYPE_OUT[entry.chat_type]
    if _CHAT_TYPE_IN.get(value["chatType"]) != entry.chat_type:
        extra["chatType"] = entry.chat_type
    for field, name in _OPTIONAL_TEXT:
        text = getattr(entry, field)
        if text is not None:
            value[name] = text
    for field, name in _COUNTERS:
        value[name] = getattr(entry, field)
    value["elevatedLevel"] = entry.elevated_level
    if entry.tts != "off":
        extra["tts"] = entry.tts
    if entry.meta:
        extra["meta"] = entry.meta
    if extra:
        value[EXTRA] = extra
    return value


def session_entry(key: str, agent_id: str, value: Any) -> SessionEntry:
    """Our SessionEntry for one `sessions.json` value (ours or OpenClaw's)."""
    if not isinstance(value, dict):
        raise FormatError(f"the entry of {key!r} is not a JSON object")
    session_id = value.get("sessionId")
    if not isinstance(session_id, str) or not session_id:
        raise FormatError(f"the entry of {key!r} has no sessionId")
    extra = value.get(EXTRA)
    if not isinstance(extra, dict):
        extra = {}
    # OpenClaw's ms fields are the truth; our exact float is used only while it still agrees with
    # them (OpenClaw moves sessionStartedAt on a reset and never updates our copy).
    updated = _seconds(_agreeing(extra.get("updatedAt"), value.get("updatedAt")), value.get("updatedAt"))
    created = _seconds(
        _agreeing(extra.get("createdAt"), value.get("sessionStartedAt")), value.get("sessionStartedAt"), updated
    )
    chat_type = extra.get("chatType")
    if chat_type not in _CHAT_TYPE_OUT:
        chat_type = _CHAT_TYPE_IN.get(str(value.get("chatType", "direct")), "direct")
    fields: dict[str, Any] = {
        "key": key,
        "session_id": session_id,
        "agent_id": agent_id,
        "created_at": created,
        "updated_at": updated,
        "chat_type": chat_type,
        "elevated_level": str(value.get("elevatedLevel") or "off"),
        "tts": str(extra.get("tts", "off")),
        "meta": _copy(extra["meta"]) if isinstance(extra.get("meta"), dict) else {},
    }
    for field, name in _OPTIONAL_TEXT:
        text = value.get(name)
        fields[field] = text if isinstance(text, str) else None
    for field, name in _COUNTERS:
        number = value.get(name)
        fields[field] = int(number) if isinstance(number, int | float) and not isinstance(number, bool) else 0
    return SessionEntry(**fields)


def _agreeing(exact: Any, ms: Any) -> Any:
    """`exact` (seconds) if it rounds to `ms` (or there is no `ms`), else None."""
    if not isinstance(exact, int | float) or isinstance(exact, bool):
        return None
    if isinstance(ms, int | float) and not isinstance(ms, bool) and _ms(float(exact)) != round(ms):
        return None
    return exact


def _seconds(exact: Any, ms: Any, default: float = 0.0) -> float:
    if isinstance(exact, int | float) and not isinstance(exact, bool):
        return float(exact)
    if isinstance(ms, int | float) and not isinstance(ms, bool):
        return ms / 1000
    return default


# -- transcript -------------------------------------------------------------------------------------


def header(session_id: str, created_at: float, cwd: str) -> dict[str, Any]:
    return {
        "type": "session",
        "version": TRANSCRIPT_VERSION,
        "id": session_id,
        "timestamp": iso_time(created_at),
        "cwd": cwd,
    }


def _text_blocks(text: str) -> list[dict[str, Any]]:
    return [{"type": "text", "text": text}] if text else []


def transcript_entry(m: ChatMessage, parent_id: str | None) -> dict[str, Any]:
    """The JSONL entry for one of our messages (which must already have its id)."""
    ms, exact = _exact_ms(m.created_at)
    extra: dict[str, Any] = {}
    if not exact:
        extra["createdAt"] = m.created_at
    if m.tokens != UNKNOWN_TOKENS:
        extra["tokens"] = m.tokens
    if m.inbound_id is not None:
        extra["inboundId"] = m.inbound_id
    if m.meta:
        extra["meta"] = m.meta
    entry: dict[str, Any] = {"type": "message", "id": m.id, "parentId": parent_id, "timestamp": iso_time(m.created_at)}
    if m.role == "user":
        entry["message"] = {"role": "user", "content": _text_blocks(m.content), "timestamp": ms}
    elif m.role == "assistant":
        entry["message"] = _assistant(m, ms, extra)
    elif m.role == "tool":
        result: dict[str, Any] = {"role": "toolResult"}
        if m.tool_call_id is not None:
            result["toolCallId"] = m.tool_call_id
        if m.name is not None:
            result["toolName"] = m.name
        result.update(content=_text_blocks(m.content), isError=False, timestamp=ms)
        entry["message"] = result
    elif isinstance(m.meta.get("compaction"), dict):
        compaction = m.meta["compaction"]
        entry["type"] = "compaction"
        entry["summary"] = m.content
        entry["firstKeptEntryId"] = compaction.get("firstKeptEntryId")
        entry["tokensBefore"] = compaction.get("tokensBefore", 0)
    else:
        entry["type"] = "custom"
        entry["customType"] = SYSTEM_CUSTOM_TYPE
        entry["data"] = {"role": m.role, "content": m.content, "timestamp": ms}
    if m.name is not None and m.role != "tool":
        extra["name"] = m.name
    if m.role == "tool" and m.tool_call_id is None:
        extra["noToolCallId"] = True
    # Always present, even empty: it marks the entry as ours (no foreign fields to keep).
    entry[EXTRA] = extra
    return entry


def _assistant(m: ChatMessage, ms: int, extra: dict[str, Any]) -> dict[str, Any]:
    content = _text_blocks(m.content)
    raw_arguments: list[str | None] = []
    for call in m.tool_calls:
        parsed, exact = _arguments(call.arguments)
        raw_arguments.append(None if exact else call.arguments)
        content.append({"type": "toolCall", "id": call.id, "name": call.name, "arguments": parsed})
    if any(raw is not None for raw in raw_arguments):
        extra["argumentsText"] = raw_arguments
    message: dict[str, Any] = {"role": "assistant", "content": content}
    for key in ("provider", "model"):
        if isinstance(m.meta.get(key), str):
            message[key] = m.meta[key]
    usage = m.meta.get("usage")
    prompt = completion = 0
    if isinstance(usage, dict):
        prompt = _int(usage.get("prompt_tokens"))
        completion = _int(usage.get("completion_tokens"))
    message["usage"] = {
        "input": prompt,
        "output": completion,
        "cacheRead": 0,
        "cacheWrite": 0,
        "totalTokens": prompt + completion,
    }
    message["stopReason"] = "toolUse" if m.tool_calls else "stop"
    message["timestamp"] = ms
    return message


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def _arguments(text: str) -> tuple[Any, bool]:
    """Tool-call arguments as the object OpenClaw stores, and whether compact JSON gives `text` back."""
    try:
        parsed = msgspec.json.decode(text)
    except msgspec.DecodeError:
        return {}, False
    if not isinstance(parsed, dict):
        return {}, False
    return parsed, _encoder.encode(parsed).decode() == text


def chat_message(entry: dict[str, Any]) -> ChatMessage | None:
    """Our message for one transcript entry, or None for entries that are not conversation."""
    kind = entry.get("type")
    extra = entry.get(EXTRA)
    if not isinstance(extra, dict):
        extra = {}
    entry_id = str(entry.get("id") or "")
    if kind == "message":
        message = entry.get("message")
        if not isinstance(message, dict):
            raise FormatError("a message entry without a message object")
        return _from_message(entry_id, entry, message, extra)
    if kind == "compaction":
        meta = _meta(extra)
        meta.setdefault(
            "compaction",
            {"firstKeptEntryId": entry.get("firstKeptEntryId"), "tokensBefore": _int(entry.get("tokensBefore"))},
        )
        return _finish("system", str(entry.get("summary") or ""), entry_id, entry, None, extra, meta)
    if kind == "custom" and entry.get("customType") == SYSTEM_CUSTOM_TYPE:
        data = entry.get("data") if isinstance(entry.get("data"), dict) else {}
        assert isinstance(data, dict)
        return _finish(
            "system", str(data.get("content") or ""), entry_id, entry, data.get("timestamp"), extra, _meta(extra)
        )
    return None


def _from_message(
    entry_id: str, entry: dict[str, Any], message: dict[str, Any], extra: dict[str, Any]
) -> ChatMessage | None:
    role = message.get("role")
    meta = _meta(extra)
    foreign = EXTRA not in entry
    texts, calls, other = _split_content(message.get("content"), extra)
    if foreign:
        kept = {k: v for k, v in message.items() if k not in ("role", "content", "timestamp", "toolCallId", "toolName")}
        if other:
            kept["content"] = other
        if kept:
            meta["openclaw"] = kept
    if role == "user":
        return _finish("user", texts, entry_id, entry, message.get("timestamp"), extra, meta)
    if role == "assistant":
        return _finish("assistant", texts, entry_id, entry, message.get("timestamp"), extra, meta, tool_calls=calls)
    if role == "toolResult":
        call_id = message.get("toolCallId")
        name = message.get("toolName")
        return _finish(
            "tool",
            texts,
            entry_id,
            entry,
            message.get("timestamp"),
            extra,
            meta,
            tool_call_id=None if extra.get("noToolCallId") else str(call_id or ""),
            name=name if isinstance(name, str) else None,
        )
    return None


def _split_content(content: Any, extra: dict[str, Any]) -> tuple[str, tuple[ToolCall, ...], list[Any]]:
    if isinstance(content, str):
        return content, (), []
    if not isinstance(content, list):
        return "", (), []
    texts: list[str] = []
    calls: list[ToolCall] = []
    other: list[Any] = []
    raw_arguments = extra.get("argumentsText")
    for block in content:
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text" and isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif kind == "toolCall":
            raw = None
            if isinstance(raw_arguments, list) and len(calls) < len(raw_arguments):
                raw = raw_arguments[len(calls)]
            if not isinstance(raw, str):
                raw = _encoder.encode(block.get("arguments") or {}).decode()
            calls.append(ToolCall(id=str(block.get("id") or ""), name=str(block.get("name") or ""), arguments=raw))
        else:
            other.append(block)
    return "\n".join(texts), tuple(calls), other


def _meta(extra: dict[str, Any]) -> dict[str, Any]:
    meta = extra.get("meta")
    return dict(meta) if isinstance(meta, dict) else {}


def _finish(
    role: Any,
    content: str,
    entry_id: str,
    entry: dict[str, Any],
    ms: Any,
    extra: dict[str, Any],
    meta: dict[str, Any],
    *,
    tool_calls: tuple[ToolCall, ...] = (),
    tool_call_id: str | None = None,
    name: str | None = None,
) -> ChatMessage:
    created = _seconds(extra.get("createdAt"), ms, -1.0)
    if created < 0:
        created = 0.0
        stamp = entry.get("timestamp")
        if isinstance(stamp, str):
            with contextlib.suppress(ValueError):
                created = datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    if name is None and isinstance(extra.get("name"), str):
        name = extra["name"]
    tokens = extra.get("tokens")
    inbound = extra.get("inboundId")
    return ChatMessage(
        role=role,
        content=content,
        tool_calls=tool_calls,
        tool_call_id=tool_call_id,
        name=name,
        id=entry_id,
        created_at=created,
        tokens=tokens if isinstance(tokens, int) and not isinstance(tokens, bool) else UNKNOWN_TOKENS,
        inbound_id=inbound if isinstance(inbound, str) else None,
        meta=meta,
    )


def inbound_of(entry: dict[str, Any]) -> str | None:
    extra = entry.get(EXTRA)
    if isinstance(extra, dict):
        inbound = extra.get("inboundId")
        if isinstance(inbound, str):
            return inbound
    return None
