"""OpenClaw cron jobs' `delivery` carried by the migration: announce to a named chat on an enabled
channel; `none` kept; the last chat, webhooks and disabled channels reported (answers stay in the
job's session)."""

from __future__ import annotations

from typing import Any

from rustyclaw.adapters.openclaw.state_extras import cron_map
from rustyclaw.config.schema import CronJobConfig


def job(name: str, delivery: dict[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "schedule": {"kind": "cron", "expr": "0 7 * * *"},
                           "payload": {"kind": "agentTurn", "message": "Brief me."}}
    if delivery is not None:
        out["delivery"] = delivery
    return out


def test_deliveries_carried_and_reported() -> None:
    jobs, skipped = cron_map([
        job("tg", {"mode": "announce", "channel": "telegram", "to": 123, "accountId": "ops"}),
        job("quiet", {"mode": "none"}),
        job("last", {"mode": "announce", "channel": "last"}),
        job("hook", {"mode": "webhook", "to": "https://example.invalid/hook"}),
        job("dc", {"mode": "announce", "channel": "discord", "to": "555"}),
        job("plain", None),
    ], frozenset({"telegram"}))
    by_id = {j["id"]: j for j in jobs}
    assert by_id["tg"]["delivery"] == {"channel": "telegram", "to": "123", "accountId": "ops"}
    assert by_id["quiet"]["delivery"] == {"mode": "none"}
    assert all("delivery" not in by_id[k] for k in ("last", "hook", "dc", "plain"))
    reasons = {u.path: u.reason for u in skipped}
    assert "delivery to the last chat" in reasons["cron job 'last'.delivery"]
    assert "mode 'webhook' has no equivalent" in reasons["cron job 'hook'.delivery"]
    assert "'discord', which is not enabled here" in reasons["cron job 'dc'.delivery"]
    for entry in jobs:  # every carried job is a valid RustyClaw job
        CronJobConfig.model_validate(entry)
