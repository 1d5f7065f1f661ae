"""Splits a reply into pieces a platform accepts, at the most natural boundary that fits.

Preference: a paragraph break, then a line break, then a space; a piece is cut mid-word only
when a single word is longer than the limit. Pieces keep the text's order; the whitespace at a
cut is dropped. `units="utf16"` measures as Telegram does (a character outside the BMP, such as
most emoji, counts twice).
"""

from __future__ import annotations

from typing import Literal

Units = Literal["chars", "utf16"]

# A boundary earlier than this share of the limit makes pieces too small; cut harder instead.
_MIN_FILL = 0.3


def measure(text: str, units: Units = "chars") -> int:
    if units == "chars":
        return len(text)
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def _fitting_prefix(text: str, limit: int, units: Units) -> int:
    """The number of characters of `text` whose measure stays within `limit`."""
    if units == "chars":
        return min(len(text), limit)
    used = 0
    for i, ch in enumerate(text):
        used += 2 if ord(ch) > 0xFFFF else 1
        if used > limit:
            return i
    return len(text)


def _cut_point(window: str, at_end: bool) -> tuple[int, int]:
    """(end of this piece, start of the next) inside `window`."""
    if at_end:
        return len(window), len(window)
    floor = int(len(window) * _MIN_FILL)
    for sep in ("\n\n", "\n"):
        pos = window.rfind(sep)
        if pos >= floor and pos > 0:
            return pos, pos + len(sep)
    for pos in range(len(window) - 1, floor - 1, -1):
        if window[pos].isspace() and pos > 0:
            return pos, pos + 1
    return len(window), len(window)


def split_text(text: str, limit: int, units: Units = "chars") -> list[str]:
    """Pieces of `text`, each within `limit`, in order; no empty pieces (an empty text gives [])."""
    if limit < 1:
        raise ValueError("limit must be positive")
    pieces: list[str] = []
    rest = text.strip("\n")
    while rest:
        # At least one character per piece, even one that alone exceeds a tiny limit.
        n = max(1, _fitting_prefix(rest, limit, units))
        window = rest[:n]
        end, start = _cut_point(window, at_end=n == len(rest))
        piece = window[:end].rstrip()
        if piece.strip():
            pieces.append(piece)
        rest = rest[start:].lstrip("\n")
    return pieces
