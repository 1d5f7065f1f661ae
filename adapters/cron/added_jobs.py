"""Jobs added with `rustyclaw cron add`, kept in `<state>/cron/added.json` beside the config's
`cron.jobs` (the config file, with its comments, is never rewritten). Each entry has the config's
own job form and is validated as one; the gateway reads them at start."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

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
