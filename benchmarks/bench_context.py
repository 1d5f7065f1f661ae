"""Context assembly of a 2,000-message session (`ContextBuilder.assemble`): with the per-message
token counts already cached, against counting every message afresh (tiktoken cl100k, and the
estimator). Budget: <= 1 ms with cached counts.

Two sessions: "pruned" is a tool-using chat of about 330k tokens that must be cut to the default
128k window (drops and soft-trims); "fits" is 2,000 short chat messages that fit whole.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
import pytest

from benchmarks import corpus
from rustyclaw.adapters.tokenizer import make_tokenizer
from rustyclaw.domain.context import ContextBuilder
from rustyclaw.domain.messages import UNKNOWN_TOKENS, ChatMessage
from rustyclaw.domain.settings import PruningSettings

MESSAGES = 2000
BUDGET = 128_000 - 1024  # the default window less the default completion reserve
SYSTEM = ChatMessage(role="system", content=corpus.english_text(1200))


def _session(kind: str) -> list[ChatMessage]:
    if kind == "pruned":
        return corpus.conversation(MESSAGES)
    prose = corpus.english_text(200_000)
    return [
        ChatMessage(role="user" if i % 2 == 0 else "assistant", content=prose[i * 97 : i * 97 + 150])
        for i in range(MESSAGES)
    ]


SESSIONS = {kind: _session(kind) for kind in ("pruned", "fits")}


def _uncounted(history: list[ChatMessage]) -> tuple[tuple[Any, ...], dict[str, Any]]:
    fresh = [msgspec.structs.replace(m, tokens=UNKNOWN_TOKENS) for m in history]
    return (msgspec.structs.replace(SYSTEM, tokens=UNKNOWN_TOKENS), fresh, BUDGET), {}


@pytest.mark.parametrize("kind", ["pruned", "fits"])
def test_assemble_cached(benchmark: Any, kind: str) -> None:
    benchmark.group = f"context-assemble-{kind}"
    builder = ContextBuilder(make_tokenizer("cl100k"), PruningSettings())
    history = SESSIONS[kind]
    warm = builder.assemble(SYSTEM, history, BUDGET)  # counts once; the counts stay on the messages
    assert all(m.tokens != UNKNOWN_TOKENS for m in history)
    window = benchmark(builder.assemble, SYSTEM, history, BUDGET)
    assert window.prompt_tokens == warm.prompt_tokens <= BUDGET
    assert (window.dropped > 0) == (kind == "pruned")


@pytest.mark.parametrize("tokenizer", ["cl100k", "estimate"])
@pytest.mark.parametrize("kind", ["pruned", "fits"])
def test_assemble_uncached(benchmark: Any, kind: str, tokenizer: str) -> None:
    benchmark.group = f"context-assemble-{kind}"
    builder = ContextBuilder(make_tokenizer(tokenizer), PruningSettings())
    builder.assemble(*_uncounted(SESSIONS[kind][:4])[0])  # loads the encoding outside the timing
    run: Callable[..., Any] = builder.assemble
    window = benchmark.pedantic(run, setup=lambda: _uncounted(SESSIONS[kind]), rounds=8, iterations=1)
    assert window.prompt_tokens <= BUDGET
