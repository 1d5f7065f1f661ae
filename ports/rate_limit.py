"""Where per-sender rate-limit windows are counted: in the process (one gateway) or in a store that
several gateway replicas share, so a sender's limit holds across all of them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, Protocol

if TYPE_CHECKING:
    from rustyclaw.domain.access import RateLimit

# ok: served; notice: the first message over the limit (the sender is told once); drop: ignored.
RateOutcome = Literal["ok", "notice", "drop"]
# (channel, account, sender id)
RateKey = tuple[str, str, str]


class RateCounter(Protocol):
    """Counts one message of `key` against `limit` (a sliding window) and says what to do with it.

    Only messages that are served count; refused ones do not fill the window. `limit.messages <= 0`
    is no limit: always "ok".
    """

    async def hit(self, key: RateKey, limit: RateLimit) -> RateOutcome: ...
