"""Context assembly: the system prompt plus as much history as fits the model's token budget.

Counts are cached on each message (`ChatMessage.tokens`), so a long session is counted once and
assembled in one pass over integer arrays (the `ext.pruning` kernel). Pruning only shapes what is
sent; the stored transcript is never changed.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from rustyclaw.domain.messages import UNKNOWN_TOKENS, ChatMessage
from rustyclaw.domain.settings import PruningSettings
from rustyclaw.ext import pruning, tokens
from rustyclaw.ports.tokenizer import EstimatingTokenizer, Tokenizer

# The count of an assistant message includes its tool calls' names and JSON arguments.
_CALL_OVERHEAD = 4
# "[... N characters trimmed ...]" in cl100k.
_TRIM_MARKER_TOKENS = 10
_TEXT_CACHE_LIMIT = 256
# An estimating tokenizer's prompt above this share of the budget is counted exactly: the compiled
# estimate is within about 6 % of cl100k (benchmarks/README.md), so below it the exact count fits too.
NEAR_BUDGET = 0.85
_EXACT_CACHE_LIMIT = 50_000


class ContextWindow(msgspec.Struct, frozen=True, kw_only=True):
    messages: list[ChatMessage]
    prompt_tokens: int
    dropped: int
    trimmed: int


def message_tokens(message: ChatMessage, tokenizer: Tokenizer) -> int:
    """The message's own token count, computed once and cached on the message."""
    if message.tokens == UNKNOWN_TOKENS:
        count = tokenizer.count(message.content) if message.content else 0
        for call in message.tool_calls:
            count += tokenizer.count(call.name) + tokenizer.count(call.arguments) + _CALL_OVERHEAD
        message.tokens = count
    return message.tokens


def message_cost(message: ChatMessage, tokenizer: Tokenizer) -> int:
    """Tokens the message takes in a chat request, chat-format overhead included."""
    return message_tokens(message, tokenizer) + tokens.message_overhead(message.name is not None)


def trim_text(text: str, settings: PruningSettings) -> str:
    head, tail = settings.soft_trim_head_chars, settings.soft_trim_tail_chars
    omitted = len(text) - head - tail
    return f"{text[:head]}\n[... {omitted} characters trimmed ...]\n{text[-tail:]}"


class ContextBuilder:
    """Fits history into a budget: newest turns first, oversized tool results trimmed first."""

    def __init__(self, tokenizer: Tokenizer, settings: PruningSettings) -> None:
        self._tokenizer = tokenizer
        self._settings = settings
        self._text_costs: dict[str, int] = {}
        # Near a budget an estimating tokenizer hands over to its exact counter (see NEAR_BUDGET);
        # exact costs are cached by message id, apart from the estimates cached on the messages.
        self._exact = tokenizer.exact if isinstance(tokenizer, EstimatingTokenizer) else None
        self._exact_costs: dict[str, int] = {}

    def cost(self, message: ChatMessage) -> int:
        return message_cost(message, self._tokenizer)

    def text_cost(self, text: str) -> int:
        """Cost of a system-role text (the prompt, tool schemas), cached: they repeat every turn."""
        cached = self._text_costs.get(text)
        if cached is None:
            if len(self._text_costs) >= _TEXT_CACHE_LIMIT:
                self._text_costs.clear()
            cached = self._text_costs[text] = self._tokenizer.count(text) + tokens.message_overhead(False)
        return cached

    def assemble(
        self, system: ChatMessage | None, history: Sequence[ChatMessage], budget: int
    ) -> ContextWindow:
        """`budget` is what the prompt may use: the context window less the completion reserve."""
        fixed = tokens.REPLY_PRIMING
        if system is not None:
            fixed += self.cost(system)
        costs = [self.cost(m) for m in history]
        total = fixed + sum(costs)
        if self._exact is not None and total > budget * NEAR_BUDGET:
            fixed = tokens.REPLY_PRIMING + (self._exact_cost(system) if system is not None else 0)
            costs = [self._exact_cost(m) for m in history]
            total = fixed + sum(costs)
        if total <= budget:
            out = [system, *history] if system is not None else list(history)
            return ContextWindow(messages=out, prompt_tokens=total, dropped=0, trimmed=0)

        trimmed_costs = self._trimmed_costs(history)
        turn_start = [m.role == "user" for m in history]
        start, trims = pruning.plan(costs, trimmed_costs, turn_start, budget - fixed)
        trim_set = set(trims)
        kept: list[ChatMessage] = [] if system is None else [system]
        used = fixed
        for i in range(start, len(history)):
            message = history[i]
            if i in trim_set:
                message = msgspec.structs.replace(
                    message, content=trim_text(message.content, self._settings), tokens=UNKNOWN_TOKENS
                )
                used += trimmed_costs[i]
            else:
                used += costs[i]
            kept.append(message)
        return ContextWindow(messages=kept, prompt_tokens=used, dropped=start, trimmed=len(trim_set))

    def _exact_cost(self, message: ChatMessage) -> int:
        assert self._exact is not None
        key = message.id
        cached = self._exact_costs.get(key) if key else None
        if cached is None:
            exact = self._exact
            count = exact.count(message.content) if message.content else 0
            for call in message.tool_calls:
                count += exact.count(call.name) + exact.count(call.arguments) + _CALL_OVERHEAD
            cached = count + tokens.message_overhead(message.name is not None)
            if key:
                if len(self._exact_costs) >= _EXACT_CACHE_LIMIT:
                    self._exact_costs.clear()
                self._exact_costs[key] = cached
        return cached

    def _trimmed_costs(self, history: Sequence[ChatMessage]) -> list[int]:
        """Cost of each tool result once trimmed, or -1 where it may not be trimmed.

        Tool results after the last `keep_last_assistants` assistant messages stay whole: the
        model is still working with them.
        """
        settings = self._settings
        protected_from = len(history)
        seen = 0
        for i in range(len(history) - 1, -1, -1):
            if history[i].role == "assistant":
                seen += 1
                if seen >= settings.keep_last_assistants:
                    protected_from = i
                    break
        else:
            protected_from = 0
        kept_chars = settings.soft_trim_head_chars + settings.soft_trim_tail_chars
        out = [-1] * len(history)
        for i in range(protected_from):
            message = history[i]
            size = len(message.content)
            if message.role == "tool" and size > settings.soft_trim_max_chars:
                # Proportional to the cached count: recounting every long result on every turn
                # would cost more than the whole assembly.
                own = message_tokens(message, self._tokenizer)
                out[i] = -(-own * kept_chars // size) + _TRIM_MARKER_TOKENS + tokens.message_overhead(
                    message.name is not None)
        return out
