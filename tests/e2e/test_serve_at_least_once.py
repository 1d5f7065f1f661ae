"""`rustyclaw serve` as a real process, stopped with turns in flight by SIGTERM and by SIGKILL:
after the restart every accepted message is answered exactly once. Telegram through the Bot API
stand-in (Telegram's offsets and long poll), WhatsApp through its webhook and the Graph stand-in,
Discord through its stand-in; the model is llmock, whose first answers stall (turns in flight)."""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from tests.fixtures.discord_standin import DiscordStandIn
from tests.fixtures.graph_standin import (
    ACCESS_TOKEN,
    API_VERSION,
    APP_SECRET,
    PHONE_NUMBER_ID,
    VERIFY_TOKEN,
    GraphStandIn,
    WebhookSender,
    new_wamid,
    text_message,
)
from tests.fixtures.llm_servers import LLMockServer
from tests.fixtures.telegram_standin import TelegramStandIn

from .gateway_process import GatewayProcess, write_config

pytestmark = [pytest.mark.anyio, pytest.mark.slow]
ANSWER = "Answered."
OPEN = {"enabled": True, "dmPolicy": "open", "allowFrom": ["*"]}
CHATS = 3  # chats that each send two messages while the first turns stall


def _config(tmp_path: Path, mock: LLMockServer, channels: dict[str, Any]) -> Path:
    return write_config(
        tmp_path / "rustyclaw.yaml", tmp_path / "state", mock.base_url, "m1",
        channels=channels, delivery={"drainSeconds": 1}, sessions={"dmScope": "per-channel-peer"},
    )


@asynccontextmanager
async def serving(config: Path, home: Path) -> AsyncIterator[GatewayProcess]:
    process = await anyio.to_thread.run_sync(lambda: GatewayProcess(config, home).start(timeout=60))
    try:
        yield process
    finally:
        if process.process is not None and process.process.poll() is None:
            await anyio.to_thread.run_sync(process.stop)


async def end(process: GatewayProcess, how: signal.Signals) -> None:
    assert process.process is not None
    process.process.send_signal(how)
    code = await anyio.to_thread.run_sync(lambda: process.process.wait(timeout=60))  # type: ignore[union-attr]
    assert code in (0, -how.value, 128 + how.value), process.log()


async def journal_open(state: Path) -> int:
    from rustyclaw.adapters.inbox.sqlite import SqliteInbox

    inbox = SqliteInbox.in_state_dir(state)
    await inbox.start()
    try:
        return (await inbox.counts()).unfinished
    finally:
        await inbox.aclose()


async def wait_for(check: Callable[[], Awaitable[bool]], within: float = 60.0) -> None:
    with anyio.fail_after(within):
        while not await check():  # noqa: ASYNC110 - another process's state: polled
            await anyio.sleep(0.1)


def models_asked(process: GatewayProcess) -> int:
    """Model requests the gateway started (llmock lists a request only once it has ended)."""
    return process.log_path.read_text(errors="replace").count("llm request ")


def held_then_answering(mock: LLMockServer) -> None:
    """The first answer of each chat stalls (still running at the stop); every later one answers."""
    mock.stream_fault("stall", after_chunks=0, stall_seconds=120, times=CHATS)
    mock.reply(ANSWER, times=None)


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
async def test_telegram_turns_in_flight_are_answered_once_after_a_restart(
    tmp_path: Path, mock_llm: LLMockServer, telegram_standin: TelegramStandIn, how: signal.Signals,
) -> None:
    standin = telegram_standin
    held_then_answering(mock_llm)
    config = _config(tmp_path, mock_llm, {"telegram": {**OPEN, "botToken": standin.token,
                                                       "apiBaseUrl": standin.base_url, "pollInterval": 0.05}})
    chats = [3001 + n for n in range(CHATS)]
    async with serving(config, tmp_path) as first:
        for chat in chats:
            await standin.user_message(f"first {chat}", user_id=chat)
            await standin.user_message(f"second {chat}", user_id=chat)

        async def all_journaled() -> bool:
            return (standin.unconfirmed() == [] and models_asked(first) >= CHATS
                    and await journal_open(tmp_path / "state") == 2 * CHATS)

        await wait_for(all_journaled)
        await end(first, how)
    assert all(standin.sent(chat) == [] for chat in chats)
    assert await journal_open(tmp_path / "state") == 2 * CHATS
    async with serving(config, tmp_path):
        for chat in chats:
            assert await standin.wait_sent(chat, 2, within=60) == [ANSWER, ANSWER]
        for chat in chats:
            await standin.user_message(f"third {chat}", user_id=chat)
        for chat in chats:
            assert await standin.wait_sent(chat, 3, within=60) == [ANSWER] * 3  # nothing twice
        async def settled() -> bool:
            return await journal_open(tmp_path / "state") == 0

        await wait_for(settled)


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
async def test_whatsapp_turns_in_flight_are_answered_once_after_a_restart(
    tmp_path: Path, mock_llm: LLMockServer, graph_standin: GraphStandIn, how: signal.Signals,
) -> None:
    graph = graph_standin
    held_then_answering(mock_llm)
    config = _config(tmp_path, mock_llm, {"whatsapp": {
        **OPEN, "accessToken": ACCESS_TOKEN, "appSecret": APP_SECRET, "verifyToken": VERIFY_TOKEN,
        "phoneNumberId": PHONE_NUMBER_ID, "apiBaseUrl": graph.url, "apiVersion": API_VERSION}})
    users = [f"1631555{9000 + n}" for n in range(CHATS)]
    async with serving(config, tmp_path) as first:
        meta = WebhookSender(f"{first.url}/channels/whatsapp/webhook")
        for user in users:
            for text in ("first", "second"):
                answer = await meta.post(text_message(user, f"{text} {user}", wamid=new_wamid()))
                assert answer.status_code == 200  # Meta is told only once the message is on disk

        async def stalled() -> bool:
            return models_asked(first) >= CHATS

        await wait_for(stalled)
        await end(first, how)
    assert await journal_open(tmp_path / "state") == 2 * CHATS
    async with serving(config, tmp_path) as second:
        for user in users:
            assert await graph.wait_texts(user, 2, within=60) == [ANSWER, ANSWER]
        meta = WebhookSender(f"{second.url}/channels/whatsapp/webhook")
        for user in users:
            assert (await meta.post(text_message(user, "third", wamid=new_wamid()))).status_code == 200
        for user in users:
            assert await graph.wait_texts(user, 3, within=60) == [ANSWER] * 3
        async with httpx.AsyncClient(timeout=10) as http:
            ready = (await http.get(f"{second.url}/readyz")).json()
        assert ready["delivery"]["journal"] is True and ready["delivery"]["failed"] == 0


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
async def test_discord_turns_in_flight_are_answered_once_after_a_restart(
    tmp_path: Path, mock_llm: LLMockServer, discord_standin: DiscordStandIn, how: signal.Signals,
) -> None:
    standin = discord_standin
    held_then_answering(mock_llm)
    config = _config(tmp_path, mock_llm, {"discord": {**OPEN, "token": standin.token,
                                                      "restBaseUrl": standin.base_url}})
    users = [str(900000000000000100 + n) for n in range(CHATS)]
    async with serving(config, tmp_path) as first:
        await standin.wait_ready_sessions(1, within=60)
        for user in users:
            await standin.user_message("first", user_id=user)
            await standin.user_message("second", user_id=user)

        async def journaled() -> bool:
            return models_asked(first) >= CHATS and await journal_open(tmp_path / "state") == 2 * CHATS

        await wait_for(journaled)
        await end(first, how)
    async with serving(config, tmp_path):
        for user in users:
            sent = await standin.wait_sent(standin.dm_channel_of(user), 2, within=60)
            assert [m.get("content") for m in sent] == [ANSWER, ANSWER]
        for user in users:
            await standin.user_message("third", user_id=user)
        for user in users:
            sent = await standin.wait_sent(standin.dm_channel_of(user), 3, within=60)
            assert [m.get("content") for m in sent] == [ANSWER] * 3
