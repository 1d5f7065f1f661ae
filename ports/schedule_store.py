"""Where the cron scheduler keeps each job's state, so that jobs persist across restarts."""

from __future__ import annotations

from typing import Protocol

import msgspec


class JobState(msgspec.Struct, kw_only=True, rename="camel", omit_defaults=True):
    """One job's state: when it ran, when it runs next, how it went.

    `anchor` is when the job was first scheduled (`every` schedules count from it); `signature`
    is the schedule it was computed for, so a changed schedule is recomputed at start.
    """

    anchor: float
    signature: str
    next_run: float | None = None
    last_run: float | None = None
    last_status: str | None = None
    last_error: str | None = None
    failures: int = 0
    runs: int = 0


class ScheduleStore(Protocol):
    async def load(self) -> dict[str, JobState]:
        """Every stored job's state; an empty mapping when nothing was stored yet."""
        ...

    async def save(self, states: dict[str, JobState]) -> None:
        """Replaces the stored states atomically (a crash leaves the old or the new file)."""
        ...


class CronClaims(Protocol):
    """One claim per (job, tick) across every gateway that shares the store.

    `claim` returns True to exactly one caller for a given job id and tick (the scheduled time of
    the run), whichever process it is in; the others must not run that tick.
    """

    async def claim(self, job_id: str, tick: float) -> bool: ...
