"""Both twins of the pruning plan, on hand-worked cases and against a brute-force oracle."""

from __future__ import annotations

import random
from collections.abc import Sequence
from types import ModuleType

import pytest

from rustyclaw.ext import pruning_py

from .twins import compiled, twin_fixture

COMPILED = compiled("pruning")
twin = twin_fixture("pruning", pruning_py)


T, F = True, False

# (tokens, trimmed, turn_start, budget, expected (start, trims)), each worked out by hand.
CASES = {
    "empty": ([], [], [], 100, (0, [])),
    "empty, zero budget": ([], [], [], 0, (0, [])),
    "empty, negative budget": ([], [], [], -5, (0, [])),
    "fits": ([10, 20, 30], [-1, -1, -1], [T, F, F], 100, (0, [])),
    "fits exactly": ([10, 20, 30], [5, -1, -1], [T, F, F], 60, (0, [])),
    # 310 > 230; trimming 0 saves 90 -> 220 fits: stop there, 1 stays whole.
    "one trim is enough": ([100, 100, 100, 10], [10, 10, -1, -1], [T, F, T, F], 230, (0, [0])),
    # trim 0 -> 220, trim 1 -> 130 <= 140.
    "two trims": ([100, 100, 100, 10], [10, 10, -1, -1], [T, F, T, F], 140, (0, [0, 1])),
    # trimmed=-1 is never trimmed: 100 > 90 and nothing to trim -> drop 0 (T at 1? no): drop 0 ->
    # 50 at index 1 (not a turn start) -> drop 1 -> 25 at index 2, a turn start.
    "untrimmable": ([50, 25, 25], [-1, -1, -1], [T, F, T], 90, (2, [])),
    # 200 > 120, no trims: drop 0 -> 150, drop 1 -> 100 at 2 (turn start) fits.
    "drop to a turn start": ([50, 50, 50, 50], [-1] * 4, [T, F, T, F], 120, (2, [])),
    # 150 at index 1 fits but 1 is not a turn start; nor is 2; 3 is.
    "fitting is not enough": ([50, 50, 50, 50], [-1] * 4, [T, F, F, T], 160, (3, [])),
    # trims 2 and 4 -> 200 > 150; drop 0 -> 160, drop 1 -> 120 at 2 (turn start): trims kept.
    "trims after start are kept": (
        [40, 40, 200, 40, 200, 40], [-1, -1, 20, -1, 20, -1], [T, F, T, F, T, F], 150, (2, [2, 4])
    ),
    # trims 0 and 3 -> 160 > 80; dropping (0 costs its trimmed 20) never reaches a fitting turn
    # start, so the newest turn start (2) is kept over budget; trim 0 goes with the dropped part.
    "newest turn kept over budget": (
        [200, 40, 40, 200, 40], [20, -1, -1, 20, -1], [T, F, T, F, F], 80, (2, [3])
    ),
    "no turn start at all": ([10, 10, 10], [-1, -1, -1], [F, F, F], 5, (2, [])),
    # trim 0 -> 6 > 0; nothing ever fits a zero budget: newest turn start is 1.
    "zero budget": ([5, 5], [1, -1], [T, T], 0, (1, [])),
    "negative budget": ([5, 5], [1, -1], [T, T], -10, (1, [])),
    "single message over budget": ([500], [-1], [T], 100, (0, [])),
    "single message trimmed": ([500], [50], [T], 100, (0, [0])),
    # a "trimmed" cost that is not smaller saves nothing, so 0 is left alone.
    "trim that saves nothing": ([10, 100], [12, 50], [T, T], 60, (0, [1])),
    "trimmed to zero": ([100, 10], [0, -1], [T, T], 10, (0, [0])),
    # 0 and 1 trimmed (-> 20), still over 15; drop 0 (its trimmed 10) -> 10 at 1, a turn start.
    "drop a trimmed message": ([100, 100], [10, 10], [T, T], 15, (1, [1])),
}


@pytest.mark.parametrize("case", CASES.values(), ids=list(CASES))
def test_plan_cases(
    twin: ModuleType,
    case: tuple[list[int], list[int], list[bool], int, tuple[int, list[int]]],
) -> None:
    tokens, trimmed, turn_start, budget, expected = case
    assert twin.plan(tokens, trimmed, turn_start, budget) == expected


def test_plan_takes_any_sequences(twin: ModuleType) -> None:
    expected = (2, [2, 4])
    tokens, trimmed = [40, 40, 200, 40, 200, 40], [-1, -1, 20, -1, 20, -1]
    assert twin.plan(tuple(tokens), tuple(trimmed), (T, F, T, F, T, F), 150) == expected
    assert twin.plan(tokens, trimmed, b"\x01\x00\x01\x00\x01\x00", 150) == expected
    assert twin.plan(tokens, trimmed, [1, 0, 1, 0, 1, 0], 150) == expected


def test_plan_returns_a_fresh_list(twin: ModuleType) -> None:
    start, trims = twin.plan([100, 100], [10, 10], [T, T], 15)
    assert type(start) is int
    assert type(trims) is list


@pytest.mark.parametrize(
    ("tokens", "trimmed", "turn_start"),
    [([1, 2], [-1], [T, T]), ([1, 2], [-1, -1], [T]), ([1], [-1, -1], [T, T])],
)
def test_plan_wants_equal_lengths(
    twin: ModuleType, tokens: list[int], trimmed: list[int], turn_start: list[bool]
) -> None:
    with pytest.raises(ValueError):
        twin.plan(tokens, trimmed, turn_start, 10)


def oracle(
    tokens: Sequence[int], trimmed: Sequence[int], turn_start: Sequence[bool], budget: int
) -> tuple[int, list[int]]:
    """The specification, written the slow and obvious way (recomputing sums each step)."""
    n = len(tokens)
    if n == 0 or sum(tokens) <= budget:
        return 0, []
    trims: list[int] = []

    def cost(i: int) -> int:
        return trimmed[i] if i in trims else tokens[i]

    for i in range(n):
        if 0 <= trimmed[i] < tokens[i]:
            trims.append(i)
            if sum(cost(k) for k in range(n)) <= budget:
                return 0, trims
    for start in range(n):
        if turn_start[start] and sum(cost(k) for k in range(start, n)) <= budget:
            return start, [i for i in trims if i >= start]
    starts = [i for i in range(n) if turn_start[i]]
    start = starts[-1] if starts else n - 1
    return start, [i for i in trims if i >= start]


def test_plan_matches_the_oracle(twin: ModuleType) -> None:
    rng = random.Random(1123)
    for _ in range(3000):
        n = rng.randint(0, 12)
        tokens = [rng.randint(0, 60) for _ in range(n)]
        trimmed = [rng.randint(0, 40) if rng.random() < 0.4 else -1 for _ in range(n)]
        turn_start = [rng.random() < 0.4 for _ in range(n)]
        budget = rng.randint(-5, 400)
        case = (tokens, trimmed, turn_start, budget)
        assert twin.plan(*case) == oracle(*case), case


def test_plan_on_a_long_history(twin: ModuleType) -> None:
    rng = random.Random(7)
    n = 150
    tokens = [rng.randint(5, 3000) for _ in range(n)]
    trimmed = [t // 10 if rng.random() < 0.3 else -1 for t in tokens]
    turn_start = [rng.random() < 0.25 for _ in range(n)]
    full = sum(tokens)
    for budget in (full, full - 1, full // 2, full // 20, 3000, 0):
        start, trims = twin.plan(tokens, trimmed, turn_start, budget)
        assert (start, trims) == oracle(tokens, trimmed, turn_start, budget), budget
