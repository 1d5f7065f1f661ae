"""The shared reply splitter: boundaries, limits, order, UTF-16 measuring."""

from __future__ import annotations

import pytest

from rustyclaw.adapters.channels.text_split import measure, split_text


def test_short_text_is_one_piece_and_empty_text_none() -> None:
    assert split_text("hello", 10) == ["hello"]
    assert split_text("", 10) == []
    assert split_text("\n\n", 10) == []


def test_prefers_paragraphs_then_lines_then_words() -> None:
    text = "first paragraph here\n\nsecond one\nwith lines"
    assert split_text(text, 30) == ["first paragraph here", "second one\nwith lines"]
    assert split_text("aaaa bbbb\ncccc dddd", 12) == ["aaaa bbbb", "cccc dddd"]
    assert split_text("one two three four", 9) == ["one two", "three", "four"]


def test_a_word_longer_than_the_limit_is_cut() -> None:
    assert split_text("x" * 25, 10) == ["x" * 10, "x" * 10, "x" * 5]


@pytest.mark.parametrize("limit", [7, 50, 4096])
def test_pieces_keep_every_word_in_order_within_the_limit(limit: int) -> None:
    words = [f"w{i}" for i in range(3000)]
    text = "\n\n".join(" ".join(words[i:i + 40]) for i in range(0, 3000, 40))
    pieces = split_text(text, limit)
    assert all(0 < len(p) <= limit for p in pieces)
    assert " ".join(pieces).split() == words


def test_utf16_units_count_astral_characters_twice() -> None:
    assert measure("a😀", "utf16") == 3 and measure("a😀") == 2
    pieces = split_text("😀" * 10, 5, units="utf16")
    assert all(measure(p, "utf16") <= 5 for p in pieces)
    assert "".join(pieces) == "😀" * 10
    assert split_text("😀", 1, units="utf16") == ["😀"]  # never stuck on one oversize character


def test_a_bad_limit_is_refused() -> None:
    with pytest.raises(ValueError):
        split_text("x", 0)


FLAG = "\U0001f1e9\U0001f1ea"  # DE: two regional indicators, one flag
FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"  # ZWJ sequence, one emoji
ACCENTED = "e\u0301"  # e + combining acute


@pytest.mark.parametrize("cluster", [FLAG, FAMILY, ACCENTED, "\r\n", "\U0001f44d\U0001f3fd"])
@pytest.mark.parametrize("units", ["chars", "utf16"])
def test_cuts_never_fall_inside_a_grapheme_cluster(cluster: str, units: str) -> None:
    text = cluster * 300
    for limit in (5, 7, 11, 64, 4096):
        if measure(cluster, units) > limit:  # type: ignore[arg-type]
            continue  # a cluster longer than the limit is cut inside (below)
        pieces = split_text(text, limit, units)  # type: ignore[arg-type]
        assert "".join(pieces) == text.strip("\n").strip()
        for piece in pieces:
            assert measure(piece, units) <= limit  # type: ignore[arg-type]
            assert piece.replace(cluster, "") == "", (limit, piece)


def test_a_flag_at_the_limit_moves_to_the_next_piece_whole() -> None:
    assert split_text("abc" + FLAG + "def", 4) == ["abc", FLAG + "de", "f"]
    assert split_text("abc" + FLAG + "def", 4, "utf16") == ["abc", FLAG, "def"]


def test_one_cluster_longer_than_the_limit_is_still_cut_to_fit() -> None:
    zalgo = "a" + "\u0301" * 50
    pieces = split_text(zalgo, 10)
    assert "".join(pieces) == zalgo and all(len(p) <= 10 for p in pieces)
