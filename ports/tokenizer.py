"""Token counting for context budgets."""

from __future__ import annotations

from typing import Protocol, runtime_checkable


class Tokenizer(Protocol):
    """Counts the tokens of a text as the model's tokenizer would (or a close estimate)."""

    name: str

    def count(self, text: str) -> int: ...


@runtime_checkable
class EstimatingTokenizer(Protocol):
    """A tokenizer whose `count` is a fast estimate and whose `exact` counts precisely.

    Context assembly uses `exact` only when an estimated prompt comes close to its budget, where
    the estimate's error of a few percent could decide what is dropped.
    """

    name: str
    exact: Tokenizer

    def count(self, text: str) -> int: ...
