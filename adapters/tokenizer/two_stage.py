"""The default counter: the compiled estimate, with tiktoken's exact count kept for near the budget.

tiktoken's cl100k encoding costs about 42 MB of RSS and ~30x the CPU of the compiled estimator
(benchmarks/bench_ext.py), while the estimate is within a few percent on ordinary text. Context
assembly (domain/context.py) counts with `count` (the estimate) and asks `exact` only for a
session whose estimated prompt comes within `ContextBuilder`'s margin of its budget, so a gateway
whose sessions stay well inside their window never loads tiktoken at all.
"""

from __future__ import annotations

from rustyclaw.adapters.tokenizer.estimate import EstimateTokenizer
from rustyclaw.ports.tokenizer import Tokenizer


class EstimateFirstTokenizer:
    """Counts with the estimator; `exact` is the precise counter (loaded on its first count)."""

    name = "cl100k_estimate_first"

    def __init__(self, exact: Tokenizer) -> None:
        self._estimate = EstimateTokenizer()
        self.exact = exact

    def count(self, text: str) -> int:
        return self._estimate.count(text)
