"""Cron jobs through a real Gateway and the JSON state file: own session, restart, missed run, retry."""

from __future__ import annotations

import json
from datetime import UTC
from pathlib import Path

import pytest

from rustyclaw.adapters.cron.scheduler import CronJob, CronScheduler, gateway_job_runner
from rustyclaw.adapters.cron.state_file import JsonScheduleStore
from rustyclaw.domain.cron import Schedule, ScheduleSpec
from rustyclaw.domain.errors import LLMUnavailableError
from rustyclaw.domain.messages import InboundMessage
from tests.unit.fakes import Step
from tests.unit.gateway_kit import Kit, make_gateway

pytestmark = pytest.mark.anyio


def brief_job(kit: Kit, every: str = "1h", **kw: float) -> CronJob:
    return CronJob(
        id="brief", schedule=Schedule(ScheduleSpec(every=every), UTC),
        run=gateway_job_runner(kit.gateway, "brief", "Summarise the day.", None), **kw,
    )


async def test_a_job_runs_in_its_own_session_and_persists_across_a_restart(tmp_path: Path) -> None:
    kit = await make_gateway(steps=[Step(text="summary one"), Step(text="summary two"), Step(text="three")])
    t0 = kit.clock.t
    path = tmp_path / "cron" / "jobs.json"
    scheduler = CronScheduler([brief_job(kit)], JsonScheduleStore(path), kit.clock)
    await scheduler.start()
    kit.clock.t = t0 + 3600
    assert await scheduler.run_due() == ["brief"]

    # `agent:main:cron:direct:brief` today; `agent:main:cron:brief` once session_keys knows cron.
    key = kit.gateway.key_for(InboundMessage(channel="cron", peer_id="brief", sender_id="cron", session_hint="brief"))
    assert key.startswith("agent:main:cron:") and key.endswith(":brief")
    assert [e.key for e in await kit.store.list_sessions()] == [key]
    entry = await kit.store.get_session(key)
    assert entry is not None
    history = await kit.store.load_messages(entry)
    assert [m.content for m in history] == ["Summarise the day.", "summary one"]
    saved = json.loads(path.read_text())
    assert saved["brief"]["runs"] == 1 and saved["brief"]["nextRun"] == t0 + 7200

    # Restart after 3.5 h down: the missed runs (two of them) become one run at start.
    kit.clock.t = t0 + 5.5 * 3600
    restarted = CronScheduler([brief_job(kit)], JsonScheduleStore(path), kit.clock)
    await restarted.start()
    assert await restarted.run_due() == ["brief"]
    assert await restarted.run_due() == []
    history = await kit.store.load_messages(entry)
    assert [m.content for m in history][-2:] == ["Summarise the day.", "summary two"]
    assert json.loads(path.read_text())["brief"] == {
        "anchor": t0, "signature": "every:1h", "nextRun": t0 + 6 * 3600, "lastRun": t0 + 5.5 * 3600,
        "lastStatus": "ok", "runs": 2,
    }


async def test_a_failed_turn_is_retried(tmp_path: Path) -> None:
    kit = await make_gateway(steps=[Step(error=LLMUnavailableError("down")), Step(text="recovered")])
    t0 = kit.clock.t
    scheduler = CronScheduler([brief_job(kit, max_retries=1, retry_backoff_seconds=30)],
                              JsonScheduleStore(tmp_path / "jobs.json"), kit.clock)
    await scheduler.start()
    kit.clock.t = t0 + 3600
    await scheduler.run_due()
    state = scheduler.states["brief"]
    assert state.last_status == "error" and "could not answer" in (state.last_error or "")
    assert state.next_run == t0 + 3630
    kit.clock.t = t0 + 3630
    await scheduler.run_due()
    assert state.last_status == "ok" and state.next_run == t0 + 7200


async def test_a_damaged_state_file_is_kept_aside(tmp_path: Path) -> None:
    path = tmp_path / "jobs.json"
    path.write_text("{not json")
    assert await JsonScheduleStore(path).load() == {}
    assert (tmp_path / "jobs.json.corrupt").read_text() == "{not json"
