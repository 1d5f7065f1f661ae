"""Value types that cross the core: inbound chat events, LLM messages, stored messages, sessions."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

ChatKind = Literal["direct", "group", "channel", "thread"]
Role = Literal["system", "user", "assistant", "tool"]

UNKNOWN_TOKENS = -1


class Attachment(msgspec.Struct, frozen=True, kw_only=True):
    """Media that came with a message; voice notes are `kind="voice"`."""

    kind: Literal["voice", "audio", "image", "video", "file"]
    mime: str = "application/octet-stream"
    name: str | None = None
    data: bytes | None = None
    url: str | None = None
    size: int | None = None


class InboundMessage(msgspec.Struct, frozen=True, kw_only=True):
    """One platform event, already translated by its channel adapter."""

    channel: str
    peer_id: str
    sender_id: str
    text: str = ""
    account: str = "default"
    chat_kind: ChatKind = "direct"
    sender_name: str = ""
    thread_id: str | None = None
    message_id: str | None = None
    reply_to: str | None = None
    mentioned: bool = False
    attachments: tuple[Attachment, ...] = ()
    received_at: float = 0.0
    # Set by driving adapters that pick a session themselves (the OpenAI endpoint's `user` field).
    session_hint: str | None = None
    agent_hint: str | None = None
    # The Discord guild / Slack-Teams team a group message came from (agent bindings match them).
    guild_id: str | None = None
    team_id: str | None = None
    # A turn one session starts in another (sessions_send, sessions_spawn): that session's exact key.
    target_key: str | None = None
    # Set by the inbound journal's recovery at start: the gateway may have stored this message before
    # the restart; its unanswered turn is then finished instead of dropped as a duplicate.
    redelivered: bool = False
    # Per-request sampling and prompt additions from a driving adapter (the OpenAI endpoint).
    options: TurnOptions | None = None


class OutboundMessage(msgspec.Struct, frozen=True, kw_only=True):
    """A reply for a channel adapter to deliver; adapters split text to their platform's limit."""

    channel: str
    peer_id: str
    text: str = ""
    account: str = "default"
    chat_kind: ChatKind = "direct"
    thread_id: str | None = None
    reply_to: str | None = None
    attachments: tuple[Attachment, ...] = ()


class ToolCall(msgspec.Struct, frozen=True, kw_only=True):
    """A call the model asked for; `arguments` is the JSON text the model produced."""

    id: str
    name: str
    arguments: str = "{}"


class ChatMessage(msgspec.Struct, kw_only=True):
    """One message of a conversation, in the OpenAI chat shape, plus what we keep about it.

    `tokens` caches the message's token count (UNKNOWN_TOKENS until counted) so that context
    assembly never counts a stored message twice.
    """

    role: Role
    content: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    name: str | None = None
    id: str = ""
    created_at: float = 0.0
    tokens: int = UNKNOWN_TOKENS
    inbound_id: str | None = None
    meta: dict[str, Any] = msgspec.field(default_factory=dict)


class Usage(msgspec.Struct, frozen=True, kw_only=True):
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class SessionEntry(msgspec.Struct, kw_only=True):
    """The index row of one session, named after OpenClaw's sessions.json entry fields."""

    key: str
    session_id: str
    agent_id: str = "main"
    created_at: float = 0.0
    updated_at: float = 0.0
    chat_type: ChatKind = "direct"
    channel: str | None = None
    last_channel: str | None = None
    last_to: str | None = None
    last_account_id: str | None = None
    model: str | None = None
    model_provider: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    context_tokens: int = 0
    compaction_count: int = 0
    elevated_level: str = "off"
    tts: str = "off"
    meta: dict[str, Any] = msgspec.field(default_factory=dict)


class TurnOptions(msgspec.Struct, frozen=True, kw_only=True):
    """What one request asks of its turn beyond the configuration (OpenAI `max_tokens`, `stop`, ...).

    Unset fields keep the agent's configured value. `system` is appended to the agent's own
    system prompt for this turn only. `history` set means a stateless turn: the client's whole
    conversation (ending with the new user message) is the model's context and nothing is stored.
    """

    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: tuple[str, ...] = ()
    seed: int | None = None
    system: str = ""
    history: tuple[ChatMessage, ...] | None = None
    # Prompt + completion tokens summed over every model call of the turn (its tool steps too);
    # reached, the turn stops after that step with finish_reason "token_budget" (sub-agents).
    token_budget: int | None = None
