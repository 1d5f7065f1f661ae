"""Context pruning plan: the pure-Python reference twin of ``_pruning.pyx``.

The domain calls ``plan`` with the cached token cost of every history message and gets back which
messages to drop (everything before ``start``) and which to soft-trim.
"""

from __future__ import annotations

from collections.abc import Sequence


def plan(
    tokens: Sequence[int], trimmed: Sequence[int], turn_start: Sequence[bool], budget: int
) -> tuple[int, list[int]]:
    """Fit a history into ``budget`` tokens: ``(start, trims)``.

    Inputs, one entry per history message, oldest first:

    - ``tokens[i]``: the full token cost of message i.
    - ``trimmed[i]``: its cost once soft-trimmed, or -1 when it may not be trimmed. A value that is
      not below ``tokens[i]`` saves nothing, so that message is left alone.
    - ``turn_start[i]``: true when a kept window may begin at message i (user messages). Any
      sequence whose items are tested for truth: a ``list[bool]``, or ``bytes`` of 0/1.
    - ``budget``: the tokens the history may use; zero or less means nothing fits.

    Output: messages before ``start`` are dropped; the indices in ``trims`` (ascending, all
    ``>= start``) are soft-trimmed.

    1. The whole history fits: ``(0, [])``.
    2. Otherwise trimmable messages are soft-trimmed oldest first, stopping as soon as the total
       fits: ``(0, trims)``.
    3. Still over: messages are dropped from the oldest until the rest fits and begins at a turn
       start. When no turn start leaves a fitting window, the window begins at the newest turn start
       (the last message when none is marked): the newest turn is kept even over budget. Trims
       before ``start`` are discarded.

    Raises ValueError when the three sequences differ in length.
    """
    starts = turn_start
    n = len(tokens)
    if len(trimmed) != n or len(starts) != n:
        raise ValueError("tokens, trimmed and turn_start must have one entry per message")
    if n == 0:
        return 0, []
    total = 0
    for cost in tokens:
        total += cost
    if total <= budget:
        return 0, []

    trims: list[int] = []
    for i in range(n):
        cheaper = trimmed[i]
        if 0 <= cheaper < tokens[i]:
            total -= tokens[i] - cheaper
            trims.append(i)
            if total <= budget:
                return 0, trims

    # Every trimmable message is trimmed now; drop from the oldest.
    next_trim = 0  # position in trims of the first trim at or after ``start``
    start = 0
    while start < n:
        if total <= budget and starts[start]:
            break
        if next_trim < len(trims) and trims[next_trim] == start:
            total -= trimmed[start]
            next_trim += 1
        else:
            total -= tokens[start]
        start += 1
    if start == n:
        start = n - 1
        while start > 0 and not starts[start]:
            start -= 1
        if not starts[start]:
            start = n - 1
        next_trim = 0
        while next_trim < len(trims) and trims[next_trim] < start:
            next_trim += 1
    return start, trims[next_trim:]
