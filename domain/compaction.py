"""Compaction: older turns summarised into a stored `compaction` entry; the store keeps every message.

OpenClaw's semantics (docs: concepts/compaction, reference/session-management-compaction):
- A compaction entry is appended to the transcript: a system message whose content is the summary
  and whose `meta["compaction"]` holds `firstKeptEntryId` and `tokensBefore` (the JSON store writes
  it as OpenClaw's `compaction` line; SQLite and PostgreSQL index it in their `compactions` table).
- Later turns see the summary plus the messages from `firstKeptEntryId` on. Nothing is deleted:
  compaction only changes what the model sees.
- Auto-compaction runs when the context nears the window: `contextTokens > contextWindow -
  reserveTokens`, the reserve raised to `reserveTokensFloor` and capped so that it never takes the
  whole window of a small model. `/compact` runs it on demand. Both keep the most recent
  `keepRecentTokens` verbatim, cut at a user message so a tool call stays with its result.
- A failed or cut summary writes nothing, so history is never lost; the turn goes on without it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import msgspec

from rustyclaw.domain.messages import ChatMessage

COMPACTION_META = "compaction"
# Set on a stored message the model never sees (a paste too long for the window).
EXCLUDED_META = "contextExcluded"
# A system entry that keeps an already stored message out of context (learned too late to mark it).
EXCLUDES_META = "contextExcludes"

# Rendered characters per message in a summary request: one huge paste must not crowd out the rest.
_MESSAGE_CHARS = 4000
# Share of a window a summary request may fill with transcript: our token counts follow cl100k,
# the model's own tokenizer may need up to a fifth more.
_INPUT_SHARE = 0.8
_PROMPT_OVERHEAD = 200
MAX_STAGES = 8

SUMMARY_SYSTEM = (
    "You write the running summary of a chat between a user and an assistant, so the assistant can "
    "continue it without the full transcript. Keep: the user's goals and requests still open, decisions "
    "made, facts learned about the user and their task, names, numbers, file paths, ids and other exact "
    "identifiers (copy them verbatim), and what the assistant was doing last. Drop greetings and small "
    "talk. Write short Markdown bullet points under the headings '## Goals', '## Facts and decisions', "
    "'## Open items'. Output only the summary."
)


@dataclass(frozen=True, slots=True)
class MemoryFlushSettings:
    """OpenClaw's `compaction.memoryFlush`: a silent turn before compaction that saves durable notes."""

    enabled: bool = True
    # The flush runs once the context is within this many tokens of the compaction threshold.
    soft_threshold_tokens: int = 4000
    # An exact `provider/model` for the flush turn only; None: the session's model.
    model: str | None = None


@dataclass(frozen=True, slots=True)
class CompactionSettings:
    """OpenClaw's `agents.defaults.compaction` (RustyClaw: `agents.compaction`)."""

    enabled: bool = True
    reserve_tokens: int = 16_384
    reserve_tokens_floor: int = 20_000
    keep_recent_tokens: int = 20_000
    # The summary's own bound (max_tokens of each summary request).
    summary_max_tokens: int = 1024
    # An exact `provider/model` for summaries; None: the session's model.
    model: str | None = None
    timeout_seconds: float = 180.0
    memory_flush: MemoryFlushSettings = field(default_factory=MemoryFlushSettings)


@dataclass(frozen=True, slots=True)
class Budget:
    """The compaction numbers for one context window, capped so a small model still has room."""

    window: int
    threshold: int
    keep_recent: int
    summary_tokens: int
    flush_at: int

    @classmethod
    def of(cls, settings: CompactionSettings, window: int) -> Budget:
        reserve = max(settings.reserve_tokens, settings.reserve_tokens_floor)
        # OpenClaw caps the reserve by the known window; half of it leaves a 4k model 2k to work in.
        reserve = min(reserve, window // 2)
        threshold = max(1, window - reserve)
        keep = min(settings.keep_recent_tokens, threshold // 2)
        soft = min(settings.memory_flush.soft_threshold_tokens, threshold // 4)
        summary = max(64, min(settings.summary_max_tokens, window // 4))
        return cls(window=window, threshold=threshold, keep_recent=keep, summary_tokens=summary,
                   flush_at=threshold - soft)

    @property
    def chunk_tokens(self) -> int:
        """Transcript tokens one summary request may carry."""
        return max(256, int((self.window - self.summary_tokens - _PROMPT_OVERHEAD) * _INPUT_SHARE))


class ActiveView(msgspec.Struct, kw_only=True):
    """What the model sees of a transcript: the latest summary and the messages after its cut.

    `start` is the index in the full history of the first message the view may still compact
    (the first kept message of the latest compaction, or 0).
    """

    summary: str | None
    messages: list[ChatMessage]
    compaction: ChatMessage | None = None


def is_compaction(message: ChatMessage) -> bool:
    return message.role == "system" and isinstance(message.meta.get(COMPACTION_META), dict)


def in_context(message: ChatMessage) -> bool:
    return message.role != "system" and not message.meta.get(EXCLUDED_META)


def exclusion_entry(message_id: str) -> ChatMessage:
    """The entry to append when a stored message turns out too long for the model after all."""
    return ChatMessage(role="system", content="", meta={EXCLUDES_META: message_id})


def active_view(history: Sequence[ChatMessage]) -> ActiveView:
    """The latest compaction's summary plus every conversation message from its first kept entry on.

    A `firstKeptEntryId` that is not found (a damaged or hand-edited transcript) counts as "nothing
    kept": the view starts after the compaction entry, which is what the summary covers. Messages
    named by an exclusion entry are left out like those marked when stored.
    """
    excluded = {m.meta[EXCLUDES_META] for m in history if m.role == "system" and EXCLUDES_META in m.meta}
    view = _view(history)
    if excluded:
        view.messages = [m for m in view.messages if m.id not in excluded]
    return view


def _view(history: Sequence[ChatMessage]) -> ActiveView:
    for i in range(len(history) - 1, -1, -1):
        entry = history[i]
        if not is_compaction(entry):
            continue
        first = entry.meta[COMPACTION_META].get("firstKeptEntryId")
        start = i + 1
        kept: list[ChatMessage] = []
        if first:
            for j in range(i - 1, -1, -1):
                if history[j].id == first:
                    kept = [m for m in history[j:i] if in_context(m)]
                    break
        tail = [m for m in history[start:] if in_context(m)]
        return ActiveView(summary=entry.content, messages=kept + tail, compaction=entry)
    return ActiveView(summary=None, messages=[m for m in history if in_context(m)])


def summary_section(summary: str | None) -> str:
    """The system-prompt section that carries a summary (small local chat templates accept one
    system message only, so the summary is not a message of its own)."""
    if not summary:
        return ""
    return "\n\n# Conversation so far\n\nOlder turns of this chat were compacted into this summary:\n\n" + summary


def plan_cut(messages: Sequence[ChatMessage], costs: Sequence[int], keep_recent: int) -> int:
    """Index of the first message to keep verbatim; 0 means there is nothing to compact.

    The kept tail is the longest suffix within `keep_recent` tokens that starts at a user message;
    when even the newest turn is larger, the newest turn is kept whole.
    """
    total = 0
    cut = -1
    newest_turn = -1
    for i in range(len(messages) - 1, -1, -1):
        total += costs[i]
        if messages[i].role != "user":
            continue
        if newest_turn < 0:
            newest_turn = i
        if total > keep_recent:
            break
        cut = i
    if cut < 0:
        cut = newest_turn
    return max(cut, 0)


def render(message: ChatMessage, limit: int = _MESSAGE_CHARS) -> str:
    """One message as transcript text for a summary request."""
    if message.meta.get(EXCLUDED_META):
        return f"user: [a message of {len(message.content)} characters, too long for the model to read]"
    role: str = message.role
    text = message.content
    if role == "tool":
        role = f"tool result ({message.name or 'tool'})"
    if message.tool_calls:
        calls = ", ".join(f"{c.name}({c.arguments[:200]})" for c in message.tool_calls)
        text = f"{text}\n[called {calls}]" if text else f"[called {calls}]"
    if len(text) > limit:
        half = limit // 2
        text = f"{text[:half]}\n[... {len(text) - limit} characters left out ...]\n{text[-half:]}"
    return f"{role}: {text}"


def chunk(lines: Sequence[str], costs: Sequence[int], limit: int) -> list[list[str]]:
    """Rendered messages grouped into requests of at most `limit` tokens (a line over it goes alone)."""
    chunks: list[list[str]] = []
    current: list[str] = []
    used = 0
    for line, cost in zip(lines, costs, strict=True):
        if current and used + cost > limit:
            chunks.append(current)
            current, used = [], 0
        current.append(line)
        used += cost
    if current:
        chunks.append(current)
    return chunks


def summary_request_text(previous: str | None, lines: Sequence[str], instructions: str = "") -> str:
    parts: list[str] = []
    if previous:
        parts.append(f"The summary so far:\n{previous}")
    parts.append("New part of the conversation:\n" + "\n".join(lines))
    if instructions:
        parts.append(f"Focus of this summary (from the user): {instructions}")
    parts.append("Write the updated summary of the whole conversation." if previous else "Write the summary.")
    return "\n\n".join(parts)


def compaction_entry(
    summary: str, first_kept_id: str, tokens_before: int, tokens_after: int, *, manual: bool
) -> ChatMessage:
    """The entry to append (id and time are stamped by the caller, like every message)."""
    return ChatMessage(
        role="system",
        content=summary,
        meta={COMPACTION_META: {
            "firstKeptEntryId": first_kept_id,
            "tokensBefore": tokens_before,
            "tokensAfter": tokens_after,
            "trigger": "manual" if manual else "auto",
        }},
    )


class CompactionReport(msgspec.Struct, frozen=True, kw_only=True):
    """What one compaction did, for `/compact`, the logs and the benchmarks."""

    compacted: bool
    reason: str = ""
    tokens_before: int = 0
    tokens_after: int = 0
    messages_summarised: int = 0
    # Tokens the summary requests cost (prompt + completion), the price of compacting.
    cost_prompt_tokens: int = 0
    cost_completion_tokens: int = 0
    stages: int = 0
