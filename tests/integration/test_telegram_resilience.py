"""Failures stay contained: a dead Telegram server neither stops the other channels nor the gateway,
and polling reconnects by itself once the server is back."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from typing import Any

import anyio
import pytest

from rustyclaw.adapters.channels.backoff import Backoff
from rustyclaw.adapters.channels.supervisor import ChannelSupervisor
from rustyclaw.adapters.channels.telegram import TelegramChannel
from rustyclaw.domain.messages import InboundMessage, OutboundMessage
from rustyclaw.ports.channel import Channel
from tests.channel_contract.contract import Recorder
from tests.fixtures.llm_servers import free_port
from tests.fixtures.telegram_emulator import EMULATOR_DIR, TelegramEmulator, start_emulator
from tests.integration.test_example_channel import FakePlatform, platform

__all__ = ["platform"]
pytestmark = pytest.mark.anyio
TOKEN = "424242:RESILIENCE"


def fast_backoff() -> Backoff:
    return Backoff(initial=0.05, cap=0.2)


async def until(predicate: Any, within: float = 15.0) -> None:
    """Polls supervisor status (which has no change event) until `predicate` holds."""
    with anyio.fail_after(within):
        while not predicate():  # noqa: ASYNC110
            await anyio.sleep(0.05)


async def test_a_telegram_server_that_is_down_does_not_stop_the_other_channels(
    platform: FakePlatform, closed_port_url: str
) -> None:
    telegram = TelegramChannel(TOKEN, api_base_url=closed_port_url.removesuffix("/v1"), poll_interval=0.05)
    webhook = platform.make_channel()
    recorders: dict[str, Recorder] = {"telegram": Recorder(), "webhook": Recorder()}

    def factory(channel: Channel) -> Recorder:
        return recorders[channel.name]

    async with ChannelSupervisor([telegram, webhook], factory, backoff=fast_backoff) as supervisor:
        await supervisor.wait_started()
        await until(lambda: supervisor.status()[0].restarts >= 2)
        tg_status, wh_status = supervisor.status()
        assert tg_status.state == "failed" and "telegram" in (tg_status.last_error or "")
        assert wh_status.state == "running"
        await platform.inject("bob", "still served")
        [message] = await recorders["webhook"].wait_for(1)
        await webhook.send(OutboundMessage(channel="webhook", peer_id=message.peer_id, text="yes"))
        assert await platform.delivered("bob") == ["yes"]
    assert [s.state for s in supervisor.status()] == ["stopped", "stopped"]


@pytest.fixture
def own_emulator() -> Iterator[tuple[list[subprocess.Popen[str]], TelegramEmulator]]:
    proc, emulator = start_emulator()
    procs = [proc]
    try:
        yield procs, emulator
    finally:
        for p in procs:
            p.kill()
            p.wait()
            if p.stdout is not None:
                p.stdout.close()


async def test_polling_reconnects_when_the_server_comes_back(
    own_emulator: tuple[list[subprocess.Popen[str]], TelegramEmulator],
) -> None:
    procs, emulator = own_emulator
    channel = TelegramChannel(
        TOKEN, api_base_url=emulator.base_url, poll_interval=0.05, backoff=fast_backoff()
    )
    recorder = Recorder()
    async with ChannelSupervisor([channel], lambda _: recorder, backoff=fast_backoff) as supervisor:
        await supervisor.wait_started()
        await emulator.user_message(TOKEN, "before the outage", user_id=9)
        await recorder.wait_for(1)

        procs[0].kill()
        procs[0].wait()
        await until(lambda: supervisor.status()[0].state == "reconnecting")
        assert supervisor.status()[0].last_error

        restarted = subprocess.Popen(  # noqa: ASYNC220 - a test double's process
            ["node", str(EMULATOR_DIR / "server.js"), str(emulator.port)],
            cwd=EMULATOR_DIR, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        procs.append(restarted)
        assert restarted.stdout is not None and restarted.stdout.readline().startswith("listening")
        await emulator.user_message(TOKEN, "after the outage", user_id=9)
        messages: list[InboundMessage] = await recorder.wait_for(2)
        assert [m.text for m in messages] == ["before the outage", "after the outage"]
        assert supervisor.status()[0].state == "running"
        assert supervisor.status()[0].restarts == 0  # the channel's own loop reconnected


async def test_a_malformed_token_is_reported_and_retried() -> None:
    port = free_port()
    channel = TelegramChannel("not-a-token", api_base_url=f"http://127.0.0.1:{port}")
    async with ChannelSupervisor([channel], lambda _: Recorder(), backoff=fast_backoff) as supervisor:
        await supervisor.wait_started()
        [status] = supervisor.status()
        assert status.state == "failed" and "botToken" in (status.last_error or "")
