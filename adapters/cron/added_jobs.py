"""Jobs added with `rustyclaw cron add`, kept in `<state>/cron/added.json` beside the config's
`cron.jobs` (the config file, with its comments, is never rewritten). Each entry has the config's
own job form and is validated as one; the gateway reads them at start. With `storage.backend:
postgres` they are rows of `cron_added` instead (adapters/cron/postgres.py), shared by replicas:
`AddedJobs` is what both places offer."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Protocol

import anyio.to_thread
from pydantic import ValidationError

from rustyclaw.config.schema import CronJobConfig
from rustyclaw.domain.errors import ConfigError, StorageError


def added_jobs_path(state_dir: Path) -> Path:
    return state_dir / "cron" / "added.json"


def load_added(path: Path) -> list[CronJobConfig]:
    try:
        raw: Any = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: cannot read the added cron jobs: {exc}") from exc
    if not isinstance(raw, list):
        raise ConfigError(f"{path}: should hold a list of jobs")
    jobs = []
    for index, item in enumerate(raw):
        try:
            jobs.append(CronJobConfig.model_validate(item))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ConfigError(f"{path}: job {index} ({where}): {first['msg']}") from exc
    return jobs


def save_added(path: Path, jobs: list[CronJobConfig]) -> None:
    data = [job.model_dump(by_alias=True, exclude_defaults=True, mode="json") for job in jobs]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        raise StorageError(f"cannot write {path}: {exc}") from exc


class AddedJobs(Protocol):
    """Where `rustyclaw cron add|remove` keep their jobs; `revision()` changes whenever they do,
    so a running gateway notices a change by comparing revisions."""

    @property
    def where(self) -> str: ...

    async def load(self) -> list[CronJobConfig]: ...

    async def save(self, jobs: list[CronJobConfig]) -> None: ...

    async def revision(self) -> str: ...


class FileAddedJobs:
    """AddedJobs in `<state>/cron/added.json`; the revision is the file's modification time."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def where(self) -> str:
        return str(self.path)

    async def load(self) -> list[CronJobConfig]:
        return await anyio.to_thread.run_sync(load_added, self.path)

    async def save(self, jobs: list[CronJobConfig]) -> None:
        await anyio.to_thread.run_sync(save_added, self.path, jobs)

    async def revision(self) -> str:
        try:
            return str(self.path.stat().st_mtime_ns)
        except OSError:
            return ""
