"""Sample entries and messages the storage contract suites share."""

from __future__ import annotations

from typing import Any

from rustyclaw.domain.messages import ChatMessage, SessionEntry, ToolCall


def entry(key: str = "agent:main:main", session_id: str = "s-1", **fields: Any) -> SessionEntry:
    fields.setdefault("created_at", 1_700_000_000.0)
    fields.setdefault("updated_at", 1_700_000_000.0)
    return SessionEntry(key=key, session_id=session_id, **fields)


def user(text: str, **fields: Any) -> ChatMessage:
    return ChatMessage(role="user", content=text, **fields)


def contents(messages: list[ChatMessage]) -> list[str]:
    return [m.content for m in messages]


def full_entry() -> SessionEntry:
    """Every field set away from its default."""
    return SessionEntry(
        key="agent:ops:telegram:direct:42",
        session_id="b6f1c0de-0000-4000-8000-000000000001",
        agent_id="ops",
        created_at=1_700_000_000.25,
        updated_at=1_700_000_123.5,
        chat_type="group",
        channel="telegram",
        last_channel="discord",
        last_to="chat:42",
        last_account_id="bot-2",
        model="qwen2.5:7b",
        model_provider="ollama",
        input_tokens=1200,
        output_tokens=340,
        total_tokens=1540,
        context_tokens=32768,
        compaction_count=2,
        elevated_level="on",
        tts="always",
        meta={"label": "Ops", "nested": {"list": [1, 2.5, "x", None, True]}, "ünïcode": "✓"},
    )


def archived_conversation(prefix: str) -> list[ChatMessage]:
    """Messages with ids (what an import carries), one of every kind a transcript holds."""
    return [
        ChatMessage(role="system", content="Summary", id=f"{prefix}-0", meta={"compaction": {"tokensBefore": 90}}),
        user(f"{prefix} question", id=f"{prefix}-1", inbound_id=f"tg:{prefix}", tokens=4, created_at=1_700_000_001.5),
        ChatMessage(
            role="assistant",
            tool_calls=(ToolCall(id="c1", name="read", arguments='{"path": "x"}'),),
            id=f"{prefix}-2",
            tokens=9,
        ),
        ChatMessage(role="tool", content="text", tool_call_id="c1", name="read", id=f"{prefix}-3"),
        ChatMessage(role="assistant", content=f"{prefix} answer", id=f"{prefix}-4", meta={"usage": {"x": 1}}),
    ]
