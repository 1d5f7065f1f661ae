"""Rate-limit windows in PostgreSQL (table `rate_windows` of migration 003), shared by replicas.

Each check is one upsert: INSERT ... ON CONFLICT DO UPDATE ... RETURNING. The conflicting row is
locked for the statement, so checks of one sender on several replicas are serialised by the
server and the window can never take more than `messages` hits. Times are the Clock's wall time,
not its monotonic time: monotonic clocks of different machines (or processes) are not comparable.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rustyclaw.adapters.storage.pg_pool import PgPool
from rustyclaw.domain.access import RateLimit
from rustyclaw.ports.clock import Clock
from rustyclaw.ports.rate_limit import RateCounter, RateKey, RateOutcome

# The hits of the stored window still inside it at this check (the domain's rule: a hit leaves
# the window once `now - hit >= per_seconds`).
_LIVE = "ARRAY(SELECT h FROM unnest(w.hits) AS h WHERE %(now)s::float8 - h < %(per)s::float8)"
# `refused` counts messages over the limit since the last one served: 0 served, 1 the one the
# sender is told about, more are dropped silently. RETURNING sees only the new row, so a
# told-already flag could not tell "notice" from "drop"; a count can.
_HIT = (
    "INSERT INTO rate_windows AS w (channel, account, sender, hits, refused, updated_at) "
    "VALUES (%(channel)s, %(account)s, %(sender)s, ARRAY[%(now)s::float8], 0, %(now)s::float8) "
    "ON CONFLICT (channel, account, sender) DO UPDATE SET "
    f"hits = CASE WHEN cardinality({_LIVE}) < %(max)s::int THEN {_LIVE} || %(now)s::float8 ELSE {_LIVE} END, "
    f"refused = CASE WHEN cardinality({_LIVE}) < %(max)s::int THEN 0 ELSE w.refused + 1 END, "
    "updated_at = %(now)s::float8 "
    "RETURNING refused"
)
# Windows whose every hit has left: idle senders are forgotten, as the in-process limiter does.
_SWEEP = "DELETE FROM rate_windows WHERE updated_at <= %s"


class PostgresRateCounter:
    """A RateCounter whose windows every replica on the database shares."""

    _SWEEP_EVERY = 512

    def __init__(self, pool: PgPool, clock: Clock) -> None:
        self._pool = pool
        self._clock = clock
        self._checks = 0
        self._longest = 0.0

    async def hit(self, key: RateKey, limit: RateLimit) -> RateOutcome:
        if limit.messages <= 0:
            return "ok"
        now = self._clock.now()
        self._longest = max(self._longest, limit.per_seconds)
        self._checks += 1
        if self._checks % self._SWEEP_EVERY == 0:
            # The longest window seen here: a row of a channel with a longer window than the current
            # message's must not be dropped while its hits still count.
            await self._pool.execute("forget idle rate-limit windows in", _SWEEP, (now - self._longest,))
        channel, account, sender = key
        params = {
            "channel": channel, "account": account, "sender": sender,
            "now": now, "per": limit.per_seconds, "max": limit.messages,
        }
        rows = await self._pool.fetch("count a message against its rate limit in", _HIT, params)
        refused = int(rows[0][0]) if rows else 0
        return "ok" if refused == 0 else "notice" if refused == 1 else "drop"


if TYPE_CHECKING:
    _conforms: type[RateCounter] = PostgresRateCounter
