"""Cron that delivers, through the real serve root: a job's answer goes to its `delivery` chat on
the Telegram Bot API stand-in; a failed delivery is a failed run in the run log and the job state
(what `rustyclaw cron list|runs` print); a job without delivery keeps its answer in its session."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rustyclaw.adapters.cron.run_log import JsonlRunLog
from rustyclaw.app import Root, bootstrap
from rustyclaw.config.schema import RustyClawConfig
from rustyclaw.settings import settings_of
from tests.fixtures.llm_servers import LLMockServer
from tests.fixtures.telegram_standin import TelegramStandIn

pytestmark = pytest.mark.anyio

CHAT = 4242


def config(tmp_path: Path, llm_url: str, standin: TelegramStandIn) -> RustyClawConfig:
    hourly: dict[str, Any] = {"every": "1h"}
    return RustyClawConfig.model_validate({
        "gateway": {"stateDir": str(tmp_path / "state"), "port": 0},
        "agents": {"workspace": str(tmp_path / "ws")},
        "llm": {"providers": {"mock": {"baseUrl": llm_url}}, "routes": {"default": {"primary": "mock/m"}},
                "embedded": {"enabled": False}, "retry": {"attempts": 1}},
        "channels": {"telegram": {"enabled": True, "botToken": standin.token, "apiBaseUrl": standin.base_url,
                                  "pollInterval": 0.05, "dmPolicy": "open", "allowFrom": ["*"]}},
        "cron": {"runMissedOnStart": False, "jobs": [
            {"id": "brief", "schedule": hourly, "message": "Write the morning brief.",
             "delivery": {"channel": "telegram", "to": str(CHAT)}, "retry": {"maxRetries": 0}},
            {"id": "quiet", "schedule": hourly, "message": "Note the time.", "delivery": {"mode": "none"}},
        ]},
        "sessions": {"dmScope": "per-channel-peer"},
        "storage": {"backend": "sqlite"},
    })


def scheduler(root: Root) -> Any:
    assert root.plugins is not None and root.plugins.scheduler is not None
    return root.plugins.scheduler


async def test_a_jobs_answer_is_delivered_and_a_failed_delivery_is_recorded(
    mock_llm: LLMockServer, telegram_standin: TelegramStandIn, tmp_path: Path,
) -> None:
    cfg = config(tmp_path, mock_llm.base_url, telegram_standin)
    mock_llm.reply("Good morning: three meetings today.")
    mock_llm.reply("Second brief.")
    mock_llm.reply("It is noon.")
    async with bootstrap(settings_of(cfg), "serve") as root:
        assert root.serving is not None and root.serving.supervisor is not None
        await root.serving.supervisor.wait_started()
        await telegram_standin.wait_polled()
        jobs = scheduler(root)
        await jobs.run_now("brief")
        assert telegram_standin.sent(CHAT) == ["Good morning: three meetings today."]
        assert jobs.states["brief"].last_status == "ok"
        telegram_standin.fail_sends(1, status=400)  # Telegram refuses: no retry helps
        await jobs.run_now("brief")
        state = jobs.states["brief"]
        assert state.last_status == "error"
        assert state.last_error is not None and "delivery to telegram:4242 failed" in state.last_error
        await jobs.run_now("quiet")
        quiet = await root.store.get_session("agent:main:cron:quiet")
        assert quiet is not None
        kept = [m.content for m in await root.store.load_messages(quiet) if m.role == "assistant"]
    assert kept == ["It is noon."]
    assert telegram_standin.sent(CHAT) == ["Good morning: three meetings today."]  # nothing else went out
    runs = JsonlRunLog(tmp_path / "state" / "cron" / "runs").read()
    assert [(r.job_id, r.status) for r in runs] == [("brief", "ok"), ("brief", "error"), ("quiet", "ok")]
    assert runs[0].note == "delivered to telegram:4242"
    assert runs[1].error is not None and "delivery to telegram:4242 failed" in runs[1].error
    assert runs[2].note == "kept in agent:main:cron:quiet"


def test_config_validate_refuses_delivery_to_a_channel_that_is_not_enabled(tmp_path: Path) -> None:
    from rustyclaw.domain.errors import ConfigError

    cfg = RustyClawConfig.model_validate({"cron": {"jobs": [
        {"id": "x", "schedule": {"every": "1h"}, "message": "hi", "delivery": {"channel": "discord", "to": "1"}},
    ]}})
    with pytest.raises(ConfigError, match=r"cron\.jobs\.0\.delivery\.channel: job 'x' delivers to channel "
                                          r"'discord', which is not enabled \(enabled: none"):
        settings_of(cfg)
    with pytest.raises(ValueError, match="needs channel and to"):
        RustyClawConfig.model_validate({"cron": {"jobs": [
            {"id": "x", "schedule": {"every": "1h"}, "message": "hi", "delivery": {"channel": "telegram"}}]}})


async def test_jobs_added_and_removed_by_the_cli_are_taken_up_while_serving(
    mock_llm: LLMockServer, tmp_path: Path,
) -> None:
    import anyio

    from rustyclaw.adapters.cron.added_jobs import added_jobs_path, load_added, save_added
    from rustyclaw.config.schema import CronJobConfig

    cfg = RustyClawConfig.model_validate({
        "gateway": {"stateDir": str(tmp_path / "state"), "port": 0},
        "agents": {"workspace": str(tmp_path / "ws")},
        "llm": {"providers": {"mock": {"baseUrl": mock_llm.base_url}}, "routes": {"default": {"primary": "mock/m"}},
                "embedded": {"enabled": False}, "retry": {"attempts": 1}},
        "cron": {"jobs": [{"id": "configured", "schedule": {"every": "1h"}, "message": "x"}]},
        "storage": {"backend": "sqlite"},
    })
    path = added_jobs_path(tmp_path / "state")

    async def until(check: Any) -> None:
        with anyio.fail_after(20):
            while not check():  # noqa: ASYNC110 - the scheduler takes up the CLI's file by polling it
                await anyio.sleep(0.05)

    async with bootstrap(settings_of(cfg), "serve") as root:
        jobs = scheduler(root)
        save_added(path, [CronJobConfig.model_validate({"id": "later", "schedule": {"every": "2h"},
                                                        "message": "Check the queue."})])
        await until(lambda: "later" in jobs.jobs)
        assert jobs.states["later"].next_run is not None
        mock_llm.reply("queue is empty")
        await jobs.run_now("later")
        assert jobs.states["later"].last_status == "ok"
        save_added(path, [])
        await until(lambda: "later" not in jobs.jobs)
        assert set(jobs.jobs) == {"configured"}  # the config's own job stays
    assert load_added(path) == []


async def test_a_delivery_names_the_account_it_goes_out_through(
    mock_llm: LLMockServer, telegram_standin: TelegramStandIn, tmp_path: Path,
) -> None:
    """Two Telegram bots (channels.telegram.accounts), each on its own Bot API stand-in: a job with
    `delivery.accountId: work` is sent by the work bot, one without it by the default bot."""
    work = await TelegramStandIn(token="7000002:AAWorkBotToken_x1234567890abcdefghij").start()
    try:
        cfg = RustyClawConfig.model_validate({
            "gateway": {"stateDir": str(tmp_path / "state"), "port": 0},
            "agents": {"workspace": str(tmp_path / "ws")},
            "llm": {"providers": {"mock": {"baseUrl": mock_llm.base_url}}, "routes": {"default": {"primary": "mock/m"}},
                    "embedded": {"enabled": False}, "retry": {"attempts": 1}},
            "channels": {"telegram": {
                "enabled": True, "botToken": telegram_standin.token, "apiBaseUrl": telegram_standin.base_url,
                "pollInterval": 0.05, "dmPolicy": "open", "allowFrom": ["*"],
                "accounts": {"work": {"botToken": work.token, "apiBaseUrl": work.base_url}}}},
            "cron": {"runMissedOnStart": False, "jobs": [
                {"id": "standup", "schedule": {"every": "1h"}, "message": "Write the standup note.",
                 "delivery": {"channel": "telegram", "to": str(CHAT), "accountId": "work"}},
                {"id": "home", "schedule": {"every": "1h"}, "message": "Write the shopping list.",
                 "delivery": {"channel": "telegram", "to": str(CHAT)}},
            ]},
            "storage": {"backend": "sqlite"},
        })
        mock_llm.reply("Standup: ship it.")
        mock_llm.reply("Milk, bread.")
        async with bootstrap(settings_of(cfg), "serve") as root:
            assert root.serving is not None and root.serving.supervisor is not None
            await root.serving.supervisor.wait_started()
            jobs = scheduler(root)
            await jobs.run_now("standup")
            await jobs.run_now("home")
            assert jobs.states["standup"].last_status == "ok", jobs.states["standup"].last_error
        assert work.sent(CHAT) == ["Standup: ship it."]
        assert telegram_standin.sent(CHAT) == ["Milk, bread."]
    finally:
        await work.stop()


def test_config_validate_refuses_a_delivery_through_an_account_that_is_not_configured() -> None:
    from rustyclaw.domain.errors import ConfigError

    cfg = RustyClawConfig.model_validate({
        "channels": {"telegram": {"enabled": True, "botToken": "1:x", "accounts": {"work": {"botToken": "2:y"}}}},
        "cron": {"jobs": [{"id": "x", "schedule": {"every": "1h"}, "message": "hi",
                           "delivery": {"channel": "telegram", "to": "1", "accountId": "home"}}]}})
    with pytest.raises(ConfigError, match=r"cron\.jobs\.0\.delivery\.accountId: job 'x' delivers through account "
                                          r"'home', which channels\.telegram\.accounts does not enable "
                                          r"\(accounts: default, work\)"):
        settings_of(cfg)
