"""Cron state in PostgreSQL (migration 003): job states (`cron_jobs`), run history (`cron_runs`),
jobs added with `rustyclaw cron add` (`cron_added`) and the per-tick claims (`cron_claims`) that
let one replica, and only one, run each scheduled tick."""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import msgspec
from pydantic import ValidationError

from rustyclaw.adapters.cron.added_jobs import AddedJobs
from rustyclaw.adapters.cron.run_log import KEEP_LINES, RunHistory, RunRecord
from rustyclaw.adapters.storage.pg_pool import PgPool
from rustyclaw.config.schema import CronJobConfig
from rustyclaw.domain.errors import ConfigError
from rustyclaw.ports.schedule_store import CronClaims, JobState, ScheduleStore

if TYPE_CHECKING:
    from rustyclaw.adapters.storage.pg_pool import Conn

log = logging.getLogger("rustyclaw.cron")

_STATE_COLUMNS = ("anchor", "signature", "next_run", "last_run", "last_status", "last_error", "failures", "runs")
_STATE_TYPES = ("float8", "text", "float8", "float8", "text", "text", "int4", "int4")
_SELECT_STATES = f"SELECT job_id, {', '.join(_STATE_COLUMNS)} FROM cron_jobs"
# The whole map as one array per column: one statement text for any number of jobs.
_UPSERT_STATES = (
    f"INSERT INTO cron_jobs (job_id, {', '.join(_STATE_COLUMNS)}) "
    f"SELECT * FROM unnest(%s::text[], {', '.join(f'%s::{kind}[]' for kind in _STATE_TYPES)}) "
    "ON CONFLICT (job_id) DO UPDATE SET "
    + ", ".join(f"{column} = excluded.{column}" for column in _STATE_COLUMNS)
)
_CLAIM = (
    "INSERT INTO cron_claims (job_id, tick, claimed_at, claimed_by) VALUES (%s, %s, %s, %s) "
    "ON CONFLICT (job_id, tick) DO NOTHING"
)
_RUN_COLUMNS = "job_id, started_at, finished_at, status, error, note"


class PostgresScheduleStore:
    """A ScheduleStore in `cron_jobs`.

    `save` writes, in one transaction, only what changed since this instance last loaded or saved:
    the jobs whose state differs and the deletion of jobs it knew that are gone from the map. With
    one writer that is the same as replacing the stored map; with replicas, one that saves its
    map (at start, say) does not put back its old copy of a job another replica has run since.
    """

    def __init__(self, pool: PgPool) -> None:
        self._pool = pool
        self._known: dict[str, bytes] = {}  # job id -> its state as last loaded or saved here

    async def load(self) -> dict[str, JobState]:
        rows = await self._pool.fetch("read cron job states from", _SELECT_STATES)
        states = {
            str(row[0]): JobState(**dict(zip(_STATE_COLUMNS, row[1:], strict=True)))
            for row in rows
        }
        self._known = {job_id: msgspec.json.encode(state) for job_id, state in states.items()}
        return states

    async def save(self, states: dict[str, JobState]) -> None:
        encoded = {job_id: msgspec.json.encode(state) for job_id, state in states.items()}
        ids = [job_id for job_id, raw in encoded.items() if self._known.get(job_id) != raw]
        gone = [job_id for job_id in self._known if job_id not in states]
        if not ids and not gone:
            return
        columns = [[getattr(states[job_id], column) for job_id in ids] for column in _STATE_COLUMNS]

        async def work(conn: Conn) -> None:
            async with conn.transaction():
                if gone:
                    await conn.execute("DELETE FROM cron_jobs WHERE job_id = ANY(%s::text[])", (gone,))
                if ids:
                    await conn.execute(_UPSERT_STATES, (ids, *columns))

        await self._pool.run("save cron job states in", work)
        self._known = encoded


def replica_name() -> str:
    """Who claimed a tick, for operators reading `cron_claims`: host and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"


class PostgresCronClaims:
    """CronClaims by INSERT ... ON CONFLICT DO NOTHING: only the inserter of (job, tick) runs it."""

    _PRUNE_EVERY = 256
    KEEP_SECONDS = 7 * 86400.0

    def __init__(self, pool: PgPool, *, name: str | None = None, now: Callable[[], float] = time.time) -> None:
        self._pool = pool
        self._name = name or replica_name()
        self._now = now
        self._claims = 0

    async def claim(self, job_id: str, tick: float) -> bool:
        now = self._now()
        self._claims += 1
        if self._claims % self._PRUNE_EVERY == 0:
            # Claims only matter while a tick can still be attempted; a week covers any downtime.
            await self._pool.execute("prune old cron claims in", "DELETE FROM cron_claims WHERE claimed_at < %s",
                                     (now - self.KEEP_SECONDS,))
        inserted = await self._pool.execute("claim a cron tick in", _CLAIM, (job_id, tick, now, self._name))
        return inserted == 1


class PostgresRunLog:
    """Each run as a row of `cron_runs`; the newest KEEP_LINES runs of a job are kept."""

    def __init__(self, pool: PgPool) -> None:
        self._pool = pool

    async def append(self, record: RunRecord) -> None:
        async def work(conn: Conn) -> None:
            async with conn.transaction():
                await conn.execute(
                    f"INSERT INTO cron_runs ({_RUN_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s)",
                    (record.job_id, record.started_at, record.finished_at, record.status, record.error, record.note),
                )
                await conn.execute(
                    "DELETE FROM cron_runs WHERE job_id = %s AND seq <= "
                    "(SELECT seq FROM cron_runs WHERE job_id = %s ORDER BY seq DESC OFFSET %s LIMIT 1)",
                    (record.job_id, record.job_id, KEEP_LINES),
                )

        await self._pool.run("record a cron run in", work)

    async def recent(self, job_id: str | None = None, limit: int = 50) -> list[RunRecord]:
        """The newest `limit` runs (of one job, or of all), oldest first."""
        where = "WHERE job_id = %s " if job_id is not None else ""
        params: tuple[object, ...] = (job_id, limit) if job_id is not None else (limit,)
        rows = await self._pool.fetch(
            "read cron runs from",
            f"SELECT {_RUN_COLUMNS} FROM (SELECT * FROM cron_runs {where}ORDER BY started_at DESC, seq DESC "
            "LIMIT %s) AS newest ORDER BY started_at, seq",
            params,
        )
        return [
            RunRecord(job_id=row[0], started_at=row[1], finished_at=row[2], status=row[3], error=row[4], note=row[5])
            for row in rows
        ]


class PostgresAddedJobs:
    """The jobs `rustyclaw cron add` keeps, in `cron_added` (the config's job form as JSON), in order."""

    def __init__(self, pool: PgPool) -> None:
        self._pool = pool

    @property
    def where(self) -> str:
        return f"{self._pool.where} (cron_added)"

    async def revision(self) -> str:
        """A digest of the stored jobs: equal exactly when the jobs are (cheap: a handful of rows)."""
        rows = await self._pool.fetch(
            "read the added cron jobs' revision from",
            "SELECT COALESCE(md5(string_agg(job, E'\\n' ORDER BY position)), '') FROM cron_added",
        )
        return str(rows[0][0]) if rows else ""

    async def load(self) -> list[CronJobConfig]:
        rows = await self._pool.fetch("read added cron jobs from", "SELECT job FROM cron_added ORDER BY position")
        jobs = []
        for index, row in enumerate(rows):
            try:
                jobs.append(CronJobConfig.model_validate(msgspec.json.decode(str(row[0]))))
            except (msgspec.DecodeError, ValidationError) as exc:  # as load_added reports a bad file entry
                raise ConfigError(f"{self.where}: job {index}: {exc}") from exc
        return jobs

    async def save(self, jobs: list[CronJobConfig]) -> None:
        data = [msgspec.json.encode(job.model_dump(by_alias=True, exclude_defaults=True, mode="json")).decode()
                for job in jobs]

        async def work(conn: Conn) -> None:
            async with conn.transaction():
                await conn.execute("DELETE FROM cron_added")
                if data:
                    await conn.execute(
                        "INSERT INTO cron_added (position, job) "
                        "SELECT ord::int, job FROM unnest(%s::text[]) WITH ORDINALITY AS batch (job, ord)",
                        (data,),
                    )

        await self._pool.run("save added cron jobs in", work)


if TYPE_CHECKING:
    _added: type[AddedJobs] = PostgresAddedJobs
    _runs: type[RunHistory] = PostgresRunLog
    _store: type[ScheduleStore] = PostgresScheduleStore
    _claims: type[CronClaims] = PostgresCronClaims
