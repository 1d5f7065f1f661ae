from __future__ import annotations

from rustyclaw.domain.context import ContextBuilder, trim_text
from rustyclaw.domain.messages import ChatMessage
from rustyclaw.domain.settings import PruningSettings
from rustyclaw.ext import tokens

from .fakes import WordTokenizer

OVER = tokens.message_overhead(False)


def msg(role: str, words: int, tag: str = "w") -> ChatMessage:
    return ChatMessage(role=role, content=" ".join([tag] * words))  # type: ignore[arg-type]


def builder(**kw: int) -> ContextBuilder:
    return ContextBuilder(WordTokenizer(), PruningSettings(**kw))


def test_everything_fits_nothing_changes() -> None:
    history = [msg("user", 5), msg("assistant", 5)]
    system = msg("system", 3)
    window = builder().assemble(system, history, budget=10_000)
    assert window.messages == [system, *history]
    assert window.prompt_tokens == tokens.REPLY_PRIMING + (3 + 5 + 5) + 3 * OVER
    assert (window.dropped, window.trimmed) == (0, 0)


def test_counts_are_cached_on_the_message() -> None:
    m = msg("user", 7)
    b = builder()
    assert b.cost(m) == 7 + OVER
    assert m.tokens == 7
    m.content = "changed"  # a cached count is not recomputed
    assert b.cost(m) == 7 + OVER


def test_oldest_turns_dropped_and_window_starts_at_a_user_message() -> None:
    history = [
        msg("user", 50, "a"), msg("assistant", 50, "b"),
        msg("user", 50, "c"), msg("assistant", 50, "d"),
        msg("user", 10, "e"),
    ]
    system = msg("system", 5)
    fixed = tokens.REPLY_PRIMING + 5 + OVER
    # room for the last three messages only: the window must begin at 'c' (a user turn)
    budget = fixed + (50 + 50 + 10) + 3 * OVER
    window = builder().assemble(system, history, budget)
    assert [m.content.split()[0] for m in window.messages] == ["w", "c", "d", "e"]
    assert window.dropped == 2
    # one token less and 'c' no longer fits: only the newest turn is left
    window = builder().assemble(system, history, budget - 1)
    assert [m.content.split()[0] for m in window.messages] == ["w", "e"]


def test_oversized_old_tool_results_are_trimmed_before_anything_is_dropped() -> None:
    big = ChatMessage(role="tool", content=" ".join(["x"] * 3000), tool_call_id="c1")
    history = [
        msg("user", 5), msg("assistant", 2), big, msg("assistant", 5),
        msg("user", 5), msg("assistant", 5), msg("user", 5), msg("assistant", 5), msg("user", 5),
    ]
    settings = {"keep_last_assistants": 3, "soft_trim_max_chars": 4000,
                "soft_trim_head_chars": 100, "soft_trim_tail_chars": 100}
    b = builder(**settings)
    window = b.assemble(None, history, budget=300)
    assert window.dropped == 0 and window.trimmed == 1
    trimmed = window.messages[2]
    assert trimmed.role == "tool" and "characters trimmed" in trimmed.content
    assert len(trimmed.content) < 300
    assert big.content.count("x") == 3000  # the stored message is untouched


def test_recent_tool_results_are_protected_from_trimming() -> None:
    big = ChatMessage(role="tool", content=" ".join(["x"] * 3000), tool_call_id="c1")
    history = [msg("user", 5), msg("assistant", 2), big, msg("assistant", 5), msg("user", 5)]
    window = builder(keep_last_assistants=3).assemble(None, history, budget=300)
    # fewer than three assistant turns: nothing may be trimmed, so old turns are dropped instead
    assert window.trimmed == 0
    assert window.messages[-1].content == history[-1].content


def test_trim_text_keeps_head_and_tail() -> None:
    text = "H" * 10 + "M" * 100 + "T" * 10
    out = trim_text(text, PruningSettings(soft_trim_head_chars=10, soft_trim_tail_chars=10))
    assert out.startswith("H" * 10) and out.endswith("T" * 10) and "100 characters trimmed" in out
