"""Splits a reply into pieces a platform accepts, at the most natural boundary that fits.

Preference: a paragraph break, then a line break, then a space; a piece is cut mid-word only
when a single word is longer than the limit. Pieces keep the text's order; the whitespace at a
cut is dropped. `units="utf16"` measures as Telegram does (a character outside the BMP, such as
most emoji, counts twice).

A cut never falls inside a grapheme cluster (what a reader sees as one character: a flag, a ZWJ
family emoji, a letter with combining accents, CR LF): cuts snap back to the last cluster boundary
(Unicode's extended grapheme clusters, from the `regex` module's `\\X`, imported on the first cut
that needs it). Only a single cluster longer than the whole limit is cut inside.
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


_SNAP_LOOKAHEAD = 32  # characters past a cut that the cluster scan reads, to see a cluster's end


def _plain_boundary(before: str, after: str) -> bool:
    """True when two ASCII neighbours are certainly a cluster boundary (the common case: no regex)."""
    return before < "\x7f" and after < "\x7f" and not (before == "\r" and after == "\n")


def _snap_to_cluster(text: str, end: int) -> int:
    """The last grapheme cluster boundary at or before `end` in `text` (which starts on one)."""
    if end <= 0 or end >= len(text) or _plain_boundary(text[end - 1], text[end]):
        return end
    import regex  # only for a cut next to a non-ASCII character

    best = 0
    for match in regex.finditer(r"\X", text[: end + _SNAP_LOOKAHEAD]):
        if match.end() > end:
            break
        best = match.end()
    # One cluster longer than the limit (thousands of combining marks) is cut inside after all.
    return best or end


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
        if end == start:  # a hard cut (no separator): never inside a grapheme cluster
            end = start = _snap_to_cluster(rest, end)
        piece = rest[:end].rstrip()
        if piece.strip():
            pieces.append(piece)
        rest = rest[start:].lstrip("\n")
    return pieces
