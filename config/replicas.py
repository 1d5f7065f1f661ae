"""`gateway.replicas`: several `rustyclaw serve` processes on one PostgreSQL database (issue #16).

Off (the default), one gateway owns its state folder (the instance lock) and runs everything.
On, each replica serves HTTP, the web chat and webhook channels, and one replica at a time, the
holder of a lease in PostgreSQL, runs the leader duties: channels that hold a connection (Telegram
long polling, the Discord gateway), cron and sandbox pruning.
"""

from __future__ import annotations

from pydantic import Field

from rustyclaw.config.base import Section


class ReplicasConfig(Section):
    """The replicas mode and its leader lease.

    The leader renews the lease every `leaseSeconds / 3`; a replica that cannot renew for
    `leaseSeconds` stops its leader duties, and another replica takes the lease once it has expired,
    so a leader that dies is replaced within `leaseSeconds` plus one renewal interval (8 s by
    default). Needs `storage.backend: postgres`.
    """

    enabled: bool = False
    lease_seconds: float = Field(6.0, ge=1.0, le=300.0)
    # The lease's row in leader_leases: replicas with the same name elect one leader between them;
    # two deployments sharing one database (and schema) need different names.
    lease_name: str = Field("gateway", min_length=1, max_length=200)
