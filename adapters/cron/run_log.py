"""Each cron run as one JSON line in `<state>/cron/runs/<jobId>.jsonl` (OpenClaw keeps the same
per-job run history), for `rustyclaw cron runs`: when it ran, how it went, where the answer went."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Protocol

import anyio
import msgspec

from rustyclaw.domain.errors import StorageError

log = logging.getLogger("rustyclaw.cron")

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")
KEEP_LINES = 2000


class RunRecord(msgspec.Struct, kw_only=True, rename="camel", omit_defaults=True):
    job_id: str
    started_at: float
    finished_at: float
    status: str  # ok | error
    error: str | None = None
    # What the run did with its answer: "delivered to telegram:123", "kept in its session", ...
    note: str | None = None


_decoder = msgspec.json.Decoder(RunRecord)


class RunHistory(Protocol):
    """Where the scheduler records each run (a JSON Lines file per job, or PostgreSQL rows)."""

    async def append(self, record: RunRecord) -> None: ...

    async def recent(self, job_id: str | None = None, limit: int = 50) -> list[RunRecord]:
        """The newest `limit` runs (of one job, or of all), oldest first."""
        ...


class JsonlRunLog:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _path(self, job_id: str) -> Path:
        # Plugin jobs are `plugin:<name>:<hook>`: every other character becomes `_` in the file name.
        return self.folder / f"{_UNSAFE.sub('_', job_id)}.jsonl"

    async def append(self, record: RunRecord) -> None:
        await anyio.to_thread.run_sync(self._append, record)

    def _append(self, record: RunRecord) -> None:
        path = self._path(record.job_id)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "ab") as fh:
                fh.write(msgspec.json.encode(record) + b"\n")
            if path.stat().st_size > KEEP_LINES * 400:
                # Bounded: the newest KEEP_LINES runs are kept.
                lines = path.read_bytes().splitlines()[-KEEP_LINES:]
                tmp = path.with_name(path.name + ".tmp")
                tmp.write_bytes(b"\n".join(lines) + b"\n")
                tmp.replace(path)
        except OSError as exc:
            raise StorageError(f"cannot write {path}: {exc}") from exc

    async def recent(self, job_id: str | None = None, limit: int = 50) -> list[RunRecord]:
        return await anyio.to_thread.run_sync(self.read, job_id, limit)

    def read(self, job_id: str | None = None, limit: int = 50) -> list[RunRecord]:
        """The newest `limit` runs (of one job, or of all), oldest first."""
        paths = [self._path(job_id)] if job_id is not None else sorted(self.folder.glob("*.jsonl"))
        records: list[RunRecord] = []
        for path in paths:
            try:
                lines = path.read_bytes().splitlines()
            except FileNotFoundError:
                continue
            for line in lines:
                try:
                    records.append(_decoder.decode(line))
                except (msgspec.DecodeError, msgspec.ValidationError):
                    log.warning("skipping a damaged line in %s", path)
        records.sort(key=lambda r: r.started_at)
        return records[-limit:]
