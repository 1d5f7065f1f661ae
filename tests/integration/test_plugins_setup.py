"""PluginSetup from a config: plugins load, config cron jobs and plugin cron jobs run, state persists."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rustyclaw.config.schema import RustyClawConfig
from rustyclaw.plugins_setup import PluginSetup, gateway_zone
from tests.integration.plugins_kit import write_plugin
from tests.unit.fakes import Step
from tests.unit.gateway_kit import inbound, make_gateway

pytestmark = pytest.mark.anyio

CRON_PLUGIN = '''
from rustyclaw.plugin_sdk import cron, on_stop

@cron(every="10m")
async def tick(host):
    n = (await host.storage.get("ticks") or 0) + 1
    await host.storage.set("ticks", n)

@on_stop
async def bye(host):
    await host.storage.set("stopped", True)
'''


def cfg(tmp_path: Path, **cron: object) -> RustyClawConfig:
    return RustyClawConfig.model_validate({
        "gateway": {"stateDir": str(tmp_path / "state"), "timezone": "UTC"},
        "plugins": {"dirs": [str(tmp_path / "plugins")], "config": {}},
        "cron": {"jobs": [{"id": "brief", "schedule": {"every": "1h"}, "message": "Brief me.",
                           "retry": {"maxRetries": 1, "backoffSeconds": 5}}], **cron},
    })


async def test_setup_wires_plugins_and_both_kinds_of_cron_job(tmp_path: Path) -> None:
    write_plugin(tmp_path / "plugins", "ticker", runtime="python", source=CRON_PLUGIN, permissions=["storage"])
    config = cfg(tmp_path)
    kit = await make_gateway(steps=[Step(text="brief done")])
    t0 = kit.clock.t
    setup = PluginSetup(config, tmp_path / "state", kit.clock)
    kit.gateway._hooks = setup.hooks
    await setup.start(kit.gateway, kit.llm)

    scheduler = setup.scheduler
    assert scheduler is not None
    assert sorted(scheduler.jobs) == ["brief", "plugin:ticker:tick"]
    assert scheduler.jobs["brief"].max_retries == 1
    kit.clock.t = t0 + 3600
    assert sorted(await scheduler.run_due()) == ["brief", "plugin:ticker:tick"]
    storage = tmp_path / "state" / "plugins" / "ticker" / "storage.json"
    assert json.loads(storage.read_text()) == {"ticks": 1}
    state = json.loads((tmp_path / "state" / "cron" / "jobs.json").read_text())
    assert state["brief"]["lastStatus"] == "ok" and state["plugin:ticker:tick"]["runs"] == 1
    # The turn hook is the plugin manager (no on_message here: messages pass untouched).
    reply = await kit.gateway.handle(inbound("hi"))
    assert reply is not None
    await setup.aclose()
    assert json.loads(storage.read_text())["stopped"] is True


async def test_run_missed_on_start_false_skips(tmp_path: Path) -> None:
    kit = await make_gateway(steps=[Step(text="x")])
    t0 = kit.clock.t
    first = PluginSetup(cfg(tmp_path), tmp_path / "state", kit.clock)
    await first.start(kit.gateway)
    kit.clock.t = t0 + 5 * 3600
    later = PluginSetup(cfg(tmp_path, runMissedOnStart=False), tmp_path / "state", kit.clock)
    await later.start(kit.gateway)
    assert later.scheduler is not None and await later.scheduler.run_due() == []
    assert later.scheduler.states["brief"].next_run == t0 + 6 * 3600


def test_config_fields_and_zone() -> None:
    config = RustyClawConfig()
    assert config.cron.run_missed_on_start is True
    assert config.plugins.memory_limit_mb == 32 and config.plugins.fuel_per_call == 100_000_000
    assert str(gateway_zone("Europe/Berlin")) == "Europe/Berlin"
    assert gateway_zone(None) is not None
    with pytest.raises(ValueError, match="maxRetries"):
        RustyClawConfig.model_validate({"cron": {"jobs": [
            {"id": "x", "schedule": {"every": "1h"}, "message": "m", "retry": {"maxRetries": -1}}]}})


async def test_web_fetch_goes_through_the_guarded_tool(tmp_path: Path) -> None:
    from rustyclaw.adapters.plugins.host_api import PluginHost, PluginStorage
    from rustyclaw.adapters.tools.ssrf import Guard
    from rustyclaw.adapters.tools.web_fetch import WebFetchTool
    from rustyclaw.domain.plugins import PluginError, PluginManifest
    from rustyclaw.plugins_setup import fetch_through

    tool = WebFetchTool(Guard())
    host = PluginHost(storage=PluginStorage(tmp_path), fetch=fetch_through(tool))
    m = PluginManifest(name="w", version="1", runtime="wasm", entry="w.wasm", permissions=["web"])
    try:
        with pytest.raises(PluginError, match=r"web.fetch failed: .*(127\.0\.0\.1|private|loopback|not allowed)"):
            await host.call(m, "web.fetch", {"url": "http://127.0.0.1:9/"})
    finally:
        await tool.aclose()


async def test_messaging_goes_through_the_channel_send_callable(tmp_path: Path) -> None:
    from rustyclaw.adapters.plugins.host_api import PluginHost, PluginStorage
    from rustyclaw.domain.plugins import PluginManifest
    from rustyclaw.plugins_setup import send_through

    sent: list[tuple[str, str, str, str]] = []

    async def channel_send(channel: str, peer_id: str, text: str, account: str = "default") -> None:
        sent.append((channel, peer_id, text, account))

    host = PluginHost(storage=PluginStorage(tmp_path), send=send_through(channel_send))
    m = PluginManifest(name="m", version="1", runtime="python", entry="m.py", permissions=["messaging"])
    await host.call(m, "messaging.send", {"channel": "telegram", "peerId": "7", "text": "hi"})
    assert sent == [("telegram", "7", "hi", "default")]
