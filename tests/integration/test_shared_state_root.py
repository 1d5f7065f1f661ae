"""The serve root on `storage.backend: postgres` keeps pairing, rate windows, cron state and run
history in the database (issue #16): what one gateway does there, another gateway's adapters on
the same database see, and nothing of it goes to the state folder."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from rustyclaw.adapters.cron.postgres import PostgresRunLog, PostgresScheduleStore
from rustyclaw.adapters.pairing.postgres import PostgresPairingStore
from rustyclaw.adapters.plugins.postgres_kv import PostgresPluginStorage
from rustyclaw.adapters.storage.pg_pool import PgPool
from rustyclaw.app import bootstrap
from rustyclaw.config.schema import RustyClawConfig
from rustyclaw.domain.pairing import PairingService
from rustyclaw.settings import settings_of
from tests.fixtures.llm_servers import LLMockServer
from tests.fixtures.postgres_schema import temporary_schema
from tests.fixtures.telegram_standin import TelegramStandIn
from tests.unit.fakes import FakeClock

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]

USER = 5151


def config(tmp_path: Path, dsn: str, llm_url: str, standin: TelegramStandIn) -> RustyClawConfig:
    hourly: dict[str, Any] = {"every": "1h"}
    return RustyClawConfig.model_validate({
        "gateway": {"stateDir": str(tmp_path / "state"), "port": 0},
        "agents": {"workspace": str(tmp_path / "ws")},
        "llm": {"providers": {"mock": {"baseUrl": llm_url}}, "routes": {"default": {"primary": "mock/m"}},
                "embedded": {"enabled": False}, "retry": {"attempts": 1}},
        "channels": {"telegram": {"enabled": True, "botToken": standin.token, "apiBaseUrl": standin.base_url,
                                  "pollInterval": 0.05, "dmPolicy": "pairing"}},
        "cron": {"runMissedOnStart": False, "jobs": [
            {"id": "quiet", "schedule": hourly, "message": "Note the time.", "delivery": {"mode": "none"}},
        ]},
        "storage": {"backend": "postgres", "postgres": {"dsn": dsn}},
    })


async def test_pairing_and_cron_of_a_serving_gateway_live_in_postgresql(
    mock_llm: LLMockServer, telegram_standin: TelegramStandIn, tmp_path: Path,
) -> None:
    async with temporary_schema("root") as dsn:
        other = PgPool(dsn)  # another replica's pool on the same database
        await other.start()
        try:
            async with bootstrap(settings_of(config(tmp_path, dsn, mock_llm.base_url, telegram_standin)),
                                 "serve") as root:
                assert root.serving is not None and root.serving.supervisor is not None
                await root.serving.supervisor.wait_started()
                await telegram_standin.user_message("hello?", user_id=USER)
                (told,) = await telegram_standin.wait_sent(USER, 1)
                found = re.search(r"pairing code is ([A-Z0-9]{8})", told)
                assert found is not None, told

                # The other replica approves the code the serving one issued.
                approved = await PairingService(PostgresPairingStore(other), FakeClock()).approve(
                    "telegram", found.group(1))
                assert approved is not None and approved.sender_id == str(USER)
                mock_llm.reply("Welcome aboard.")
                await telegram_standin.user_message("hello again", user_id=USER)
                assert (await telegram_standin.wait_sent(USER, 2))[1] == "Welcome aboard."

                mock_llm.reply("It is noon.")
                assert root.plugins is not None and root.plugins.scheduler is not None
                await root.plugins.scheduler.run_now("quiet")
                assert isinstance(root.plugins.host.storage, PostgresPluginStorage)

            runs = await PostgresRunLog(other).recent()
            assert [(r.job_id, r.status) for r in runs] == [("quiet", "ok")]
            states = await PostgresScheduleStore(other).load()
            assert states["quiet"].runs == 1 and states["quiet"].last_status == "ok"
            windows = await other.fetch("read", "SELECT sender, cardinality(hits) FROM rate_windows")
            assert windows == [(str(USER), 2)]  # both answered messages (the code, the reply), counted in the database
        finally:
            await other.aclose()
    state = tmp_path / "state"
    assert not (state / "credentials").exists() and not (state / "cron").exists()


async def test_a_job_added_on_another_replica_is_taken_up_by_the_serving_gateway(
    mock_llm: LLMockServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    import anyio

    from rustyclaw import plugins_setup
    from rustyclaw.adapters.cron.postgres import PostgresAddedJobs
    from rustyclaw.config.schema import CronJobConfig

    monkeypatch.setattr(plugins_setup, "ADDED_POLL_SECONDS", 0.01)  # the gateway's own poll, not a test wait
    async with temporary_schema("added") as dsn:
        cfg = RustyClawConfig.model_validate({
            "gateway": {"stateDir": str(tmp_path / "state"), "port": 0},
            "agents": {"workspace": str(tmp_path / "ws")},
            "llm": {"providers": {"mock": {"baseUrl": mock_llm.base_url}},
                    "routes": {"default": {"primary": "mock/m"}}, "embedded": {"enabled": False}},
            "storage": {"backend": "postgres", "postgres": {"dsn": dsn}},
        })
        other = PgPool(dsn)
        await other.start()
        try:
            async with bootstrap(settings_of(cfg), "serve") as root:
                assert root.plugins is not None and root.plugins.scheduler is not None
                jobs = root.plugins.scheduler
                synced = anyio.Event()
                sync = jobs.sync_jobs

                async def noticed(*args: Any, **kwargs: Any) -> tuple[list[str], list[str]]:
                    result = await sync(*args, **kwargs)
                    synced.set()
                    return result

                monkeypatch.setattr(jobs, "sync_jobs", noticed)
                await PostgresAddedJobs(other).save([CronJobConfig.model_validate(
                    {"id": "later", "schedule": {"every": "2h"}, "message": "Check the queue."})])
                with anyio.fail_after(30):
                    await synced.wait()
                assert "later" in jobs.jobs and jobs.states["later"].next_run is not None
        finally:
            await other.aclose()
