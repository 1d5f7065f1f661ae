"""Token counting for context budgets."""

from __future__ import annotations

from typing import Protocol


class Tokenizer(Protocol):
    """Counts the tokens of a text as the model's tokenizer would (or a close estimate)."""

    name: str

    def count(self, text: str) -> int: ...
