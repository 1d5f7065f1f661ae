"""At-least-once delivery on Telegram, against the Bot API stand-in with Telegram's offset and
long-poll semantics: the real TelegramChannel, ChannelSupervisor, ChannelDispatcher and Gateway,
with the SQLite session store and the SQLite inbound journal in a state folder that outlives each
"process" (the stub model answers; it is not under test)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import anyio
import pytest

from rustyclaw.adapters.channels.supervisor import ChannelSupervisor
from rustyclaw.adapters.channels.telegram import TelegramChannel
from rustyclaw.adapters.inbox.sqlite import SqliteInbox
from tests.fixtures.telegram_standin import TelegramStandIn
from tests.integration.channel_kit import OPEN, fast_backoff, until
from tests.integration.journal_kit import FAST_SENDS, HeldLLM, journaled_gateway, settled

pytestmark = pytest.mark.anyio


@dataclass
class Running:
    llm: HeldLLM
    inbox: SqliteInbox
    channel: TelegramChannel
    supervisor: ChannelSupervisor


@asynccontextmanager
async def gateway_process(standin: TelegramStandIn, state: Path, *, held: bool = False,
                          drain: float = 0.0) -> AsyncIterator[Running]:
    """One gateway "process": everything is built afresh on the state folder and closed at the end."""
    channel = TelegramChannel(standin.token, api_base_url=standin.base_url, poll_interval=0.05,
                              long_poll_timeout=2, backoff=fast_backoff(), send_retry=FAST_SENDS)
    async with journaled_gateway(state, {"telegram": OPEN}, held=held, drain=drain) as kit, \
            ChannelSupervisor([channel], kit.dispatcher, backoff=fast_backoff) as supervisor:
        await supervisor.wait_started()
        yield Running(kit.llm, kit.inbox, channel, supervisor)


async def test_turns_in_flight_at_a_stop_are_answered_once_after_the_restart(
    telegram_standin: TelegramStandIn, tmp_path: Path,
) -> None:
    standin = telegram_standin
    chats = (2001, 2002, 2003)
    async with gateway_process(standin, tmp_path, held=True, drain=0.1) as first:
        for chat in chats:
            await standin.user_message(f"first from {chat}", user_id=chat)
            await standin.user_message(f"second from {chat}", user_id=chat)  # queued behind the first
        await until(lambda: first.llm.started == len(chats))
        await until(lambda: standin.unconfirmed() == [])  # every update confirmed: all journaled
        assert (await first.inbox.counts()).unfinished == 2 * len(chats)
    assert all(standin.sent(chat) == [] for chat in chats)  # nothing was answered before the stop

    async with gateway_process(standin, tmp_path) as second:
        for chat in chats:
            replies = await standin.wait_sent(chat, 2)
            assert sorted(replies) == sorted([f"echo: first from {chat}", f"echo: second from {chat}"])
        # A message after the recovery is answered once too, and nothing came twice before it.
        for chat in chats:
            await standin.user_message(f"third from {chat}", user_id=chat)
        for chat in chats:
            replies = await standin.wait_sent(chat, 3)
            assert replies[2] == f"echo: third from {chat}" and len(replies) == 3
        counts = await settled(second.inbox, 3 * len(chats))
        assert (counts.unfinished, counts.failed, counts.delivered) == (0, 0, 3 * len(chats))
        assert second.llm.turns == 3 * len(chats)


async def test_a_stop_lets_running_turns_finish_within_the_grace(
    telegram_standin: TelegramStandIn, tmp_path: Path,
) -> None:
    standin = telegram_standin
    async with anyio.create_task_group() as group:
        async with gateway_process(standin, tmp_path, held=True, drain=30) as running:
            await standin.user_message("slow question", user_id=2101)
            await until(lambda: running.llm.started == 1)

            async def answer_once_stopping() -> None:
                await until(lambda: running.channel.state == "stopping")
                running.llm.gate.set()  # the model answers while the gateway drains

            group.start_soon(answer_once_stopping)
        # The stop waited for the running turn: its reply went out before the gateway was down.
        assert standin.sent(2101) == ["echo: slow question"]
    async with gateway_process(standin, tmp_path) as again:
        await standin.user_message("next", user_id=2101)
        assert await standin.wait_sent(2101, 2) == ["echo: slow question", "echo: next"]
        assert again.llm.turns == 1  # nothing from before was answered again


async def test_an_update_telegram_delivers_again_is_answered_once(
    telegram_standin: TelegramStandIn, tmp_path: Path,
) -> None:
    standin = telegram_standin
    async with gateway_process(standin, tmp_path) as running:
        update_id = await standin.user_message("only once", user_id=2201)
        assert await standin.wait_sent(2201, 1) == ["echo: only once"]
        first_turns = running.llm.turns
    # The confirmation never reached Telegram: the restarted gateway gets the update again.
    await standin.redeliver(update_id)
    async with gateway_process(standin, tmp_path) as again:
        await until(lambda: standin.unconfirmed() == [])
        await standin.user_message("next", user_id=2201)
        assert await standin.wait_sent(2201, 2) == ["echo: only once", "echo: next"]
        assert (first_turns, again.llm.turns) == (1, 1)


async def test_a_send_that_fails_twice_then_succeeds_is_delivered_once(
    telegram_standin: TelegramStandIn, tmp_path: Path,
) -> None:
    standin = telegram_standin
    async with gateway_process(standin, tmp_path) as running:
        standin.fail_sends(1, status=500)
        standin.fail_sends(1, status=429, retry_after=1)
        await standin.user_message("are you there?", user_id=2301)
        assert await standin.wait_sent(2301, 1) == ["echo: are you there?"]
        assert standin.calls.count("sendMessage") == 3
        counts = await settled(running.inbox, 1)
        assert (counts.delivered, counts.failed, counts.unfinished) == (1, 0, 0)


async def test_a_send_the_platform_refuses_is_recorded_as_failed_not_retried(
    telegram_standin: TelegramStandIn, tmp_path: Path,
) -> None:
    standin = telegram_standin
    async with gateway_process(standin, tmp_path) as running:
        standin.fail_sends(1, status=403)  # the user blocked the bot
        await standin.user_message("hello", user_id=2401)

        assert (await settled(running.inbox, 1)).failed == 1
        assert standin.calls.count("sendMessage") == 1
        (entry,) = await running.inbox.failures()
        assert entry.message.text == "hello" and "Forbidden" in (entry.error or "")
    async with gateway_process(standin, tmp_path) as again:  # a failed entry is not sent again
        await standin.user_message("later", user_id=2401)
        assert await standin.wait_sent(2401, 1) == ["echo: later"]
        assert again.llm.turns == 1


async def test_the_command_menu_is_published(telegram_standin: TelegramStandIn, tmp_path: Path) -> None:
    async with gateway_process(telegram_standin, tmp_path):
        await until(lambda: telegram_standin.commands != [])
    names = [c["command"] for c in telegram_standin.commands]
    assert "help" in names and "new" in names and "stop" in names
