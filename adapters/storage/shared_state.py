"""The state beside the sessions that a gateway keeps for itself, and that gateway replicas on one
PostgreSQL database must share: pairing, rate-limit windows, the audit log, cron state (job
states, run history, per-tick claims) and plugin key-value storage.

`open_shared_state` (adapters/storage/factory.py) chooses by `storage.backend` alone: `postgres`
puts all of it in the database (migration 003) over one small pool; any other backend keeps
today's places: the state folder's files and the process's memory.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from rustyclaw.adapters.audit.jsonl import JsonlAuditLog
from rustyclaw.adapters.cron.added_jobs import AddedJobs, FileAddedJobs, added_jobs_path
from rustyclaw.adapters.cron.run_log import JsonlRunLog, RunHistory
from rustyclaw.adapters.cron.state_file import JsonScheduleStore
from rustyclaw.adapters.pairing.jsonfile import JsonFilePairingStore
from rustyclaw.adapters.plugins.host_api import PluginStorage
from rustyclaw.adapters.ratelimit.memory import MemoryRateCounter
from rustyclaw.adapters.storage.pg_pool import PgPool
from rustyclaw.domain.audit import AuditRecord
from rustyclaw.ports.audit import AuditSink
from rustyclaw.ports.clock import Clock
from rustyclaw.ports.pairing import PairingStore
from rustyclaw.ports.plugins import PluginKV
from rustyclaw.ports.rate_limit import RateCounter
from rustyclaw.ports.schedule_store import CronClaims, ScheduleStore

# The shared-state statements are short; a few connections per replica are plenty, whatever
# storage.postgres.maxSize allows the session store.
SHARED_POOL_MAX = 4


@dataclass
class SharedState:
    """One gateway's adapters for the shared state, and the pool they use (None off PostgreSQL).

    `claims` is None off PostgreSQL: a single gateway owns its state folder (the instance lock),
    so there is nobody to claim a cron tick from. `audit_recent(limit)` reads the newest audit
    records where the log is a table (PostgreSQL); None where it is the state folder's file.
    """

    pairing: PairingStore
    rates: RateCounter
    audit: AuditSink
    schedule: ScheduleStore
    run_log: RunHistory
    added_jobs: AddedJobs
    claims: CronClaims | None
    plugin_kv: PluginKV
    pool: PgPool | None = None
    audit_recent: Callable[[int], Awaitable[list[AuditRecord]]] | None = None

    async def start(self) -> None:
        if self.pool is not None:
            await self.pool.start()

    async def aclose(self) -> None:
        await self.audit.aclose()
        if self.pool is not None:
            await self.pool.aclose()


def local_shared_state(state_dir: Path, clock: Clock) -> SharedState:
    """Today's places: files under the state folder, rate windows in memory."""
    return SharedState(
        pairing=JsonFilePairingStore(state_dir),
        rates=MemoryRateCounter(clock),
        audit=JsonlAuditLog.in_state_dir(state_dir),
        schedule=JsonScheduleStore(state_dir / "cron" / "jobs.json"),
        run_log=JsonlRunLog(state_dir / "cron" / "runs"),
        added_jobs=FileAddedJobs(added_jobs_path(state_dir)),
        claims=None,
        plugin_kv=PluginStorage(state_dir / "plugins"),
    )


def postgres_shared_state(dsn: str, clock: Clock, *, min_size: int = 1, max_size: int = SHARED_POOL_MAX) -> SharedState:
    """Everything in PostgreSQL over one pool (unstarted: `start()` migrates and connects)."""
    from rustyclaw.adapters.audit.postgres import PostgresAuditLog
    from rustyclaw.adapters.cron.postgres import (
        PostgresAddedJobs,
        PostgresCronClaims,
        PostgresRunLog,
        PostgresScheduleStore,
    )
    from rustyclaw.adapters.pairing.postgres import PostgresPairingStore
    from rustyclaw.adapters.plugins.postgres_kv import PostgresPluginStorage
    from rustyclaw.adapters.ratelimit.postgres import PostgresRateCounter

    pool = PgPool(dsn, min_size=min(min_size, max_size), max_size=max_size)
    audit = PostgresAuditLog(pool)
    return SharedState(
        pairing=PostgresPairingStore(pool, now=clock.now),
        rates=PostgresRateCounter(pool, clock),
        audit=audit,
        schedule=PostgresScheduleStore(pool),
        run_log=PostgresRunLog(pool),
        added_jobs=PostgresAddedJobs(pool),
        claims=PostgresCronClaims(pool, now=clock.now),
        plugin_kv=PostgresPluginStorage(pool),
        pool=pool,
        audit_recent=audit.recent,
    )
