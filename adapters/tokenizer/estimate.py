"""Approximate cl100k token counts without any vocabulary (the fallback without the tokens extra)."""

from __future__ import annotations

from rustyclaw.ext.tokens import estimate


class EstimateTokenizer:
    """Estimates cl100k_base counts from character classes: within a few percent on ordinary text.

    See ``rustyclaw.ext.tokens_py`` for the method and the measured error per kind of text.
    """

    name = "cl100k_estimate"

    def count(self, text: str) -> int:
        return estimate(text)
