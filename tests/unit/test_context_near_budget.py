"""Context assembly with the estimate-first tokenizer: exact cl100k counts only near the budget."""

from __future__ import annotations

from rustyclaw.adapters.tokenizer.tiktoken_cl100k import TiktokenTokenizer
from rustyclaw.adapters.tokenizer.two_stage import EstimateFirstTokenizer
from rustyclaw.domain.context import NEAR_BUDGET, ContextBuilder, message_cost
from rustyclaw.domain.messages import ChatMessage
from rustyclaw.domain.settings import PruningSettings
from rustyclaw.ext import tokens

SENTENCE = "Short sessions are counted with the compiled estimate; tiktoken waits for the budget. "


def history(n: int) -> list[ChatMessage]:
    return [
        ChatMessage(role="user" if i % 2 == 0 else "assistant", content=f"{i}: {SENTENCE * 3}", id=f"m{i}")
        for i in range(n)
    ]


def exact_total(system: ChatMessage, messages: list[ChatMessage]) -> int:
    exact = TiktokenTokenizer()
    fresh = [ChatMessage(role=m.role, content=m.content) for m in [system, *messages]]
    return tokens.REPLY_PRIMING + sum(message_cost(m, exact) for m in fresh)


def test_far_from_the_budget_tiktoken_is_never_loaded() -> None:
    exact = TiktokenTokenizer()
    builder = ContextBuilder(EstimateFirstTokenizer(exact), PruningSettings())
    system = ChatMessage(role="system", content="You are helpful.")
    window = builder.assemble(system, history(40), budget=128_000)
    assert window.dropped == 0
    assert not exact.loaded
    assert window.prompt_tokens < 128_000 * NEAR_BUDGET


def test_near_the_budget_the_prompt_is_counted_exactly() -> None:
    exact = TiktokenTokenizer()
    builder = ContextBuilder(EstimateFirstTokenizer(exact), PruningSettings())
    system = ChatMessage(role="system", content="You are helpful.")
    messages = history(40)
    true_total = exact_total(system, messages)
    # A budget the whole history just fits (exactly counted), well inside the estimate's margin.
    window = builder.assemble(system, messages, budget=true_total)
    assert exact.loaded
    assert window.dropped == 0
    assert window.prompt_tokens == true_total


def test_over_the_budget_pruning_uses_exact_counts() -> None:
    exact = TiktokenTokenizer()
    builder = ContextBuilder(EstimateFirstTokenizer(exact), PruningSettings())
    system = ChatMessage(role="system", content="You are helpful.")
    messages = history(40)
    budget = exact_total(system, messages) // 2
    window = builder.assemble(system, messages, budget=budget)
    assert window.dropped > 0
    kept = [m for m in window.messages if m.role != "system"]
    assert window.prompt_tokens == exact_total(system, kept) <= budget
