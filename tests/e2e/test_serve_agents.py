"""Several agents in a real `rustyclaw serve` (llmock answers, the Telegram Bot API stand-in is the
platform): messages reach the agent their binding names (by peer, by channel), land in that agent's
sessions, and a cron job's answer is delivered to its chat when `rustyclaw cron run` asks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest

from tests.fixtures.llm_servers import LLMockServer
from tests.fixtures.telegram_standin import TelegramStandIn

from .gateway_process import GatewayProcess, write_config

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def serving(config: Path, home: Path) -> AsyncIterator[GatewayProcess]:
    process = await anyio.to_thread.run_sync(lambda: GatewayProcess(config, home).start(timeout=60))
    try:
        yield process
    finally:
        if process.process is not None and process.process.poll() is None:
            await anyio.to_thread.run_sync(process.stop)


async def test_bindings_route_telegram_chats_and_cron_delivers(
    tmp_path: Path, mock_llm: LLMockServer, telegram_standin: TelegramStandIn,
) -> None:
    standin = telegram_standin
    for folder in ("ops-ws", "help-ws"):
        (tmp_path / folder).mkdir()
    config = write_config(
        tmp_path / "rustyclaw.yaml", tmp_path / "state", mock_llm.base_url, "m",
        channels={"telegram": {"enabled": True, "dmPolicy": "open", "allowFrom": ["*"], "botToken": standin.token,
                               "apiBaseUrl": standin.base_url, "pollInterval": 0.05}},
        sessions={"dmScope": "per-channel-peer"},
        agents={"list": [{"id": "ops", "workspace": str(tmp_path / "ops-ws")},
                         {"id": "help", "workspace": str(tmp_path / "help-ws")}]},
        cron={"jobs": [{"id": "brief", "schedule": {"every": "1d"}, "message": "Brief the team.", "agent": "ops",
                        "delivery": {"channel": "telegram", "to": "4242"}}]},
    )
    config.write_text(config.read_text() + "bindings:\n"
                      "- {agentId: help, match: {channel: telegram, accountId: '*'}}\n"
                      "- {agentId: ops, match: {channel: telegram, peer: {kind: direct, id: '777'}}}\n")
    async with serving(config, tmp_path) as gateway:
        mock_llm.reply("ops here")
        await standin.user_message("status?", user_id=777)
        assert await standin.wait_sent(777, 1, within=60) == ["ops here"]
        mock_llm.reply("help here")
        await standin.user_message("hello", user_id=555)
        assert await standin.wait_sent(555, 1, within=60) == ["help here"]
        mock_llm.reply("Today: deploy at noon.")
        ran = await anyio.to_thread.run_sync(lambda: gateway.cli("cron", "run", "brief", "--url", gateway.url))
        assert ran.returncode == 0, ran.stderr + gateway.log()
        assert await standin.wait_sent(4242, 1, within=60) == ["Today: deploy at noon."]
        ops = await anyio.to_thread.run_sync(lambda: gateway.cli("sessions", "list", "--agent", "ops"))
        helped = await anyio.to_thread.run_sync(lambda: gateway.cli("sessions", "list", "--agent", "help"))
    ops_keys = {line.split("\t")[0] for line in ops.stdout.splitlines()}
    assert ops_keys == {"agent:ops:telegram:direct:777", "agent:ops:cron:brief"}
    assert [line.split("\t")[0] for line in helped.stdout.splitlines()] == ["agent:help:telegram:direct:555"]
