"""The compiled hot paths against their pure-Python twins and the best library, in one run.

Groups (pytest-benchmark prints each group with its ratios):
- ``estimate-<kind>``: ``ext._tokens.estimate`` (c) vs ``ext.tokens_py.estimate`` (py) vs tiktoken's
  exact ``encode_ordinary`` count on 20,000 characters of English, Python code or non-Latin text.
- ``count-messages``: ``count_messages`` over 2,000 cached counts, c vs py.
- ``pruning-plan``: ``plan`` over a 2,000-message session that must be cut, c vs py.

A twin that is not built is skipped here; ``check_floors.py`` then fails on the missing ratio, so
CI (which builds the extensions first) cannot pass without them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

from benchmarks import corpus
from rustyclaw.adapters.tokenizer.tiktoken_cl100k import load_encoding
from rustyclaw.domain.messages import UNKNOWN_TOKENS
from rustyclaw.ext import pruning_py, tokens_py

TEXT_CHARS = 20_000
TEXTS: dict[str, Callable[[int], str]] = {
    "english": corpus.english_text,
    "code": corpus.code_text,
    "non_latin": corpus.non_latin_text,
}


def _twin(name: str, which: str) -> ModuleType:
    if which == "py":
        reference: ModuleType = tokens_py if name == "tokens" else pruning_py
        return reference
    try:
        compiled: ModuleType = importlib.import_module(f"rustyclaw.ext._{name}")
        return compiled
    except ImportError:
        pytest.skip(f"rustyclaw.ext._{name} is not built (python setup.py build_ext --inplace)")


@pytest.fixture(scope="module")
def encoding() -> Any:
    return load_encoding()


@pytest.mark.parametrize("which", ["c", "py"])
@pytest.mark.parametrize("kind", list(TEXTS))
def test_estimate(benchmark: Any, kind: str, which: str) -> None:
    benchmark.group = f"estimate-{kind}"
    text = TEXTS[kind](TEXT_CHARS)
    estimate = _twin("tokens", which).estimate
    assert benchmark(estimate, text) == tokens_py.estimate(text)


@pytest.mark.parametrize("kind", list(TEXTS))
def test_tiktoken_count(benchmark: Any, kind: str, encoding: Any) -> None:
    benchmark.group = f"estimate-{kind}"
    text = TEXTS[kind](TEXT_CHARS)

    def count() -> int:
        return len(encoding.encode_ordinary(text))

    exact = benchmark(count)
    estimated = tokens_py.estimate(text)
    benchmark.extra_info["estimate_error_pct"] = round(100 * (estimated - exact) / exact, 2)


@pytest.mark.parametrize("which", ["c", "py"])
def test_count_messages(benchmark: Any, which: str) -> None:
    benchmark.group = "count-messages"
    counts = [m.tokens if m.tokens != UNKNOWN_TOKENS else len(m.content) // 4
              for m in corpus.conversation(2000)]
    names = [i % 7 == 0 for i in range(len(counts))]
    count_messages = _twin("tokens", which).count_messages
    assert benchmark(count_messages, counts, names) == tokens_py.count_messages(counts, names)


@pytest.mark.parametrize("which", ["c", "py"])
def test_pruning_plan(benchmark: Any, which: str) -> None:
    benchmark.group = "pruning-plan"
    history = corpus.conversation(2000)
    costs = [len(m.content) // 4 + 3 for m in history]
    trimmed = [800 if m.role == "tool" and len(m.content) > 4000 else -1 for m in history]
    starts = [m.role == "user" for m in history]
    budget = 100_000
    plan = _twin("pruning", which).plan
    start, trims = benchmark(plan, costs, trimmed, starts, budget)
    assert (start, trims) == pruning_py.plan(costs, trimmed, starts, budget)
    assert start > 0
