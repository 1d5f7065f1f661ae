"""What an OpenClaw state folder holds besides sessions: pairing allowlists and cron jobs.

Both layouts, read-only:
- classic: `credentials/<channel>-allowFrom.json` (`{"version": 1, "allowFrom": [...]}`) and
  `cron/jobs.json` (`{"version": 1, "jobs": [...]}`);
- SQLite era: `channel_pairing_allow_entries(channel_key, account_id, entry)` and
  `cron_jobs(job_id, name, enabled, agent_id, payload_kind, job_json)` in `state/openclaw.sqlite`.
A cron job is OpenClaw's job object (`schedule.kind` cron | every | at, `payload.kind`
agentTurn | systemEvent | heartbeat); cron_map turns it into a RustyClaw cron job.
"""

from __future__ import annotations

import json
import re
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rustyclaw.adapters.openclaw.config_map import Unmapped
from rustyclaw.adapters.storage.openclaw_sqlite import GLOBAL_DB, open_read_only

_ALLOW_FILE = re.compile(r"^(?P<channel>[a-z0-9_-]+)-allowFrom\.json$")
_SLUG = re.compile(r"[^A-Za-z0-9_-]+")


@dataclass(slots=True)
class StateExtras:
    allow_from: dict[str, list[str]] = field(default_factory=dict)  # channel -> approved sender ids
    cron_jobs: list[dict[str, Any]] = field(default_factory=list)  # OpenClaw job objects


def _classic(state_dir: Path, extras: StateExtras) -> None:
    folder = state_dir / "credentials"
    if folder.is_dir():
        for path in sorted(folder.iterdir()):
            match = _ALLOW_FILE.match(path.name)
            if match is None:
                continue
            data = json.loads(path.read_text(encoding="utf-8"))
            entries = data.get("allowFrom") if isinstance(data, dict) else None
            if isinstance(entries, list):
                extras.allow_from.setdefault(match["channel"], []).extend(str(e) for e in entries)
    jobs = state_dir / "cron" / "jobs.json"
    if jobs.is_file():
        data = json.loads(jobs.read_text(encoding="utf-8"))
        items = data.get("jobs") if isinstance(data, dict) else data
        if isinstance(items, list):
            extras.cron_jobs.extend(j for j in items if isinstance(j, dict))


def _sqlite(state_dir: Path, extras: StateExtras) -> None:
    path = state_dir / GLOBAL_DB
    if not path.is_file():
        return
    db = open_read_only(path)
    try:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "channel_pairing_allow_entries" in tables:
            for row in db.execute(
                "SELECT channel_key, entry FROM channel_pairing_allow_entries ORDER BY channel_key, sort_order"
            ):
                extras.allow_from.setdefault(str(row[0]), []).append(str(row[1]))
        if "cron_jobs" in tables:
            for (text,) in db.execute("SELECT job_json FROM cron_jobs ORDER BY name, job_id"):
                job = json.loads(text)
                if isinstance(job, dict):
                    extras.cron_jobs.append(job)
    except sqlite3.Error as exc:
        from rustyclaw.domain.errors import StorageError

        raise StorageError(f"reading {path}: {exc}") from exc
    finally:
        db.close()


def read_extras(state_dir: Path) -> StateExtras:
    extras = StateExtras()
    _classic(state_dir, extras)
    _sqlite(state_dir, extras)
    for channel, entries in extras.allow_from.items():
        extras.allow_from[channel] = list(dict.fromkeys(entries))
    return extras


def _every(ms: int) -> str:
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{max(1, round(ms / 1000))}s"


def _delivery(job: dict[str, Any], label: str, enabled_channels: frozenset[str] | None,
              skipped: list[Unmapped]) -> dict[str, Any] | None:
    """OpenClaw's `delivery: {mode, channel, to, accountId}` as RustyClaw's, when it can be carried."""
    delivery = job.get("delivery")
    if not isinstance(delivery, dict):
        return None
    mode = delivery.get("mode", "announce")
    if mode == "none":
        return {"mode": "none"}
    channel, to = delivery.get("channel"), delivery.get("to")
    if mode != "announce":
        skipped.append(Unmapped(f"{label}.delivery", f"delivery mode {mode!r} has no equivalent: answers stay "
                                                     "in the job's session"))
        return None
    if not isinstance(channel, str) or channel == "last" or to in (None, ""):
        skipped.append(Unmapped(f"{label}.delivery", "delivery to the last chat (no channel and to): name them "
                                                     "under delivery; answers stay in the job's session"))
        return None
    if enabled_channels is not None and channel not in enabled_channels:
        skipped.append(Unmapped(f"{label}.delivery", f"delivers to {channel!r}, which is not enabled here: "
                                                     "answers stay in the job's session"))
        return None
    out: dict[str, Any] = {"channel": channel, "to": str(to)}
    if isinstance(delivery.get("accountId"), str):
        out["accountId"] = delivery["accountId"]
    return out


def cron_map(
    jobs: list[dict[str, Any]], enabled_channels: frozenset[str] | None = None
) -> tuple[list[dict[str, Any]], list[Unmapped]]:
    """RustyClaw `cron.jobs` entries for OpenClaw jobs, and the jobs (or parts) not carried.
    `enabled_channels`: the channels the migrated config enables (a delivery elsewhere is reported)."""
    out: list[dict[str, Any]] = []
    skipped: list[Unmapped] = []
    used: set[str] = set()
    for job in jobs:
        name = str(job.get("name") or job.get("id") or "job")
        label = f"cron job {name!r}"
        payload = job.get("payload") if isinstance(job.get("payload"), dict) else {}
        assert isinstance(payload, dict)
        kind = payload.get("kind")
        if job.get("declarationKey"):
            # Declared by OpenClaw itself (heartbeat, memory dreaming, skill reviews), not by the user.
            skipped.append(Unmapped(label, f"OpenClaw's own job ({job['declarationKey']}): no equivalent"))
            continue
        if kind != "agentTurn" or not isinstance(payload.get("message"), str) or not payload["message"]:
            reason = {
                "heartbeat": "OpenClaw's heartbeat job: RustyClaw has no heartbeat (schedule a message instead)",
                "systemEvent": "a system-event job: RustyClaw's cron sends agent messages only",
            }.get(str(kind), f"payload kind {kind!r} has no equivalent")
            skipped.append(Unmapped(label, reason))
            continue
        schedule = job.get("schedule") if isinstance(job.get("schedule"), dict) else {}
        assert isinstance(schedule, dict)
        spec: dict[str, Any]
        if schedule.get("kind") == "cron" and isinstance(schedule.get("expr"), str):
            spec = {"cron": schedule["expr"]}
            if schedule.get("tz"):
                skipped.append(Unmapped(f"{label}.schedule.tz", "runs in gateway.timezone (per-job zones: none)"))
        elif schedule.get("kind") == "every" and isinstance(schedule.get("everyMs"), int):
            spec = {"every": _every(schedule["everyMs"])}
        elif schedule.get("kind") == "at" and schedule.get("at"):
            spec = {"at": str(schedule["at"])}
        else:
            skipped.append(Unmapped(label, f"schedule {schedule!r} has no equivalent"))
            continue
        slug = _SLUG.sub("-", name).strip("-_") or "job"
        slug = slug if slug[0].isalnum() else f"job-{slug}"
        base, n = slug, 2
        while slug in used:
            slug, n = f"{base}-{n}", n + 1
        used.add(slug)
        entry: dict[str, Any] = {"id": slug, "schedule": spec, "message": payload["message"]}
        if isinstance(job.get("agentId"), str):
            entry["agent"] = job["agentId"]
        if job.get("enabled") is False:
            entry["enabled"] = False
        delivery = _delivery(job, label, enabled_channels, skipped)
        if delivery is not None:
            entry["delivery"] = delivery
        if job.get("sessionTarget") not in (None, "isolated"):
            skipped.append(Unmapped(f"{label}.sessionTarget", "RustyClaw runs every job in its own cron:<id> session"))
        out.append(entry)
    return out, skipped
