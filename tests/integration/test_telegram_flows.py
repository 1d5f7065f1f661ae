"""Telegram end to end: the emulator, real aiogram, the supervisor, the dispatcher and a real Gateway.

The model is a stub defined here (it echoes the user's text) so that each flow can check which
message was answered; the real-LLM end-to-end run lives with the composition root's tests.
"""

from __future__ import annotations

import argparse
import io
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import httpx
import pytest

from rustyclaw.adapters.channels.supervisor import ChannelSupervisor
from rustyclaw.adapters.channels.telegram import TelegramChannel
from rustyclaw.adapters.clock import SystemClock
from rustyclaw.adapters.pairing.jsonfile import JsonFilePairingStore
from rustyclaw.cli_pairing import run_pairing
from rustyclaw.domain.access import RATE_LIMIT_REPLY, ChannelAccess
from rustyclaw.domain.dispatch import ChannelDispatcher
from rustyclaw.domain.pairing import CODE_ALPHABET, PairingService
from rustyclaw.ports.channel import Channel
from tests.channel_contract.harness_http import serving
from tests.fixtures.telegram_emulator import BOT_USERNAME, TelegramEmulator, telegram_emulator, telegram_token
from tests.integration.channel_kit import ReplyLLM, build_gateway

__all__ = ["telegram_emulator", "telegram_token"]
pytestmark = pytest.mark.anyio
SECRET = "flow-secret"
CODE = re.compile(rf"\b[{CODE_ALPHABET}]{{8}}\b")


@dataclass
class Flow:
    emulator: TelegramEmulator
    token: str
    channel: TelegramChannel
    supervisor: ChannelSupervisor
    llm: ReplyLLM
    state_dir: Path
    webhook_url: str | None

    async def say(self, text: str, *, user: int = 1001, chat: int | None = None, chat_type: str = "private",
                  **extra: Any) -> None:
        await self.emulator.user_message(self.token, text, user_id=user, chat_id=chat, chat_type=chat_type,
                                         extra=extra or None)

    async def replies(self, chat: int, count: int) -> list[str]:
        return await self.emulator.wait_bot_texts(self.token, chat, count)

    async def silence(self, chat: int) -> list[str]:
        return await self.emulator.quiet_for(self.token, chat)


@asynccontextmanager
async def flow(
    emulator: TelegramEmulator, token: str, tmp_path: Path, settings: ChannelAccess, mode: str = "polling"
) -> AsyncIterator[Flow]:
    clock = SystemClock()
    pairing = PairingService(JsonFilePairingStore(tmp_path), clock)
    llm = ReplyLLM()
    gateway = await build_gateway(llm, {"telegram": settings}, pairing)
    holder: dict[str, TelegramChannel] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await holder["channel"].webhook_asgi_app()(scope, receive, send)

    async with serving(app) as url:
        webhook_url = f"{url}/channels/telegram/webhook" if mode == "webhook" else None
        channel = TelegramChannel(
            token, api_base_url=emulator.base_url, mode=mode,  # type: ignore[arg-type]
            webhook_url=webhook_url, webhook_secret=SECRET if mode == "webhook" else None, poll_interval=0.05,
        )
        holder["channel"] = channel
        factory: Callable[[Channel], ChannelDispatcher] = lambda ch: ChannelDispatcher(gateway, ch)  # noqa: E731
        async with ChannelSupervisor([channel], factory) as supervisor:
            await supervisor.wait_started()
            assert [s.state for s in supervisor.status()] == ["running"]
            yield Flow(emulator, token, channel, supervisor, llm, tmp_path, webhook_url)


async def _status_of_declared_oversize(url: str) -> int:
    """The status a POST declaring a 2 MB body gets before any of the body is sent.

    The app answers 413 from Content-Length alone and the server then closes; a client still
    writing the 2 MB would race that close (a reset can arrive before the 413 is read), so
    only the head goes out.
    """
    parts = httpx.URL(url)
    stream = await anyio.connect_tcp(parts.host, parts.port or 80)
    async with stream:
        await stream.send(
            f"POST {parts.raw_path.decode()} HTTP/1.1\r\nHost: {parts.host}\r\n"
            f"X-Telegram-Bot-Api-Secret-Token: {SECRET}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {2 << 20}\r\n\r\n".encode()
        )
        head = b""
        with anyio.fail_after(10):
            while b"\r\n" not in head:
                head += await stream.receive()
    return int(head.split(b" ", 2)[1])


ALLOW_ALICE = ChannelAccess(dm_policy="allowlist", allow_from=("1001",))


@pytest.mark.parametrize("mode", ["polling", "webhook"])
async def test_a_user_message_gets_the_assistants_reply(
    telegram_emulator: TelegramEmulator, telegram_token: str, tmp_path: Path, mode: str
) -> None:
    async with flow(telegram_emulator, telegram_token, tmp_path, ALLOW_ALICE, mode) as f:
        await f.say("hello bot")
        assert await f.replies(1001, 1) == ["echo: hello bot"]
        await f.say("second question")
        assert await f.replies(1001, 1) == ["echo: second question"]
        await f.say("not on the list", user=2002)
        assert await f.silence(2002) == []


def approve(state_dir: Path, code: str) -> tuple[int, str]:
    out = io.StringIO()
    args = argparse.Namespace(command="pairing", action="approve", channel="telegram", code=code)
    return run_pairing(args, state_dir=state_dir, out=out), out.getvalue()


def listing(state_dir: Path) -> str:
    out = io.StringIO()
    run_pairing(argparse.Namespace(action="list", channel=None), state_dir=state_dir, out=out)
    return out.getvalue()


@pytest.mark.parametrize("mode", ["polling", "webhook"])
async def test_pairing_flow_for_an_unknown_user(
    telegram_emulator: TelegramEmulator, telegram_token: str, tmp_path: Path, mode: str
) -> None:
    async with flow(telegram_emulator, telegram_token, tmp_path, ChannelAccess(), mode) as f:
        await f.say("hi, who are you?", user=3003)
        [first] = await f.replies(3003, 1)
        code = CODE.search(first)
        assert code is not None, first
        await f.say("hello?", user=3003)
        assert await f.silence(3003) == []  # asked again moments later: the code is not sent again
        assert f.llm.turns == 0

        assert code.group(0) in await anyio.to_thread.run_sync(listing, f.state_dir)
        status, printed = await anyio.to_thread.run_sync(approve, f.state_dir, code.group(0))
        assert status == 0 and "3003" in printed

        await f.say("now can we talk?", user=3003)
        assert await f.replies(3003, 1) == ["echo: now can we talk?"]


GROUP = -100777


async def test_group_messages_need_a_mention(
    telegram_emulator: TelegramEmulator, telegram_token: str, tmp_path: Path
) -> None:
    settings = ChannelAccess(dm_policy="disabled", group_allow_from=(str(GROUP),))
    async with flow(telegram_emulator, telegram_token, tmp_path, settings) as f:
        await f.say("just chatting among ourselves", chat=GROUP, chat_type="supergroup")
        assert await f.silence(GROUP) == []
        await f.say(f"@{BOT_USERNAME} what is the time?", chat=GROUP, chat_type="supergroup")
        [reply] = await f.replies(GROUP, 1)
        assert reply == f"echo: @{BOT_USERNAME} what is the time?"
        # a group not on the list stays silent even with a mention
        await f.say(f"@{BOT_USERNAME} hello", chat=-100999, chat_type="group")
        assert await f.silence(-100999) == []
        assert f.llm.turns == 1


async def test_forum_topic_replies_go_to_the_topic(
    telegram_emulator: TelegramEmulator, telegram_token: str, tmp_path: Path
) -> None:
    settings = ChannelAccess(group_policy="open", groups={"*": False})
    async with flow(telegram_emulator, telegram_token, tmp_path, settings) as f:
        await f.say("in a topic", chat=GROUP, chat_type="supergroup", is_topic_message=True,
                    message_thread_id=77)
        with anyio.fail_after(10):
            while not (sent := await f.emulator.bot_messages(f.token, GROUP)):  # noqa: ASYNC110 - HTTP polling
                await anyio.sleep(0.05)
        assert [m["text"] for m in sent] == ["echo: in a topic"]
        assert str(sent[0]["message_thread_id"]) == "77"


async def test_a_redelivered_update_is_answered_once(
    telegram_emulator: TelegramEmulator, telegram_token: str, tmp_path: Path
) -> None:
    async with flow(telegram_emulator, telegram_token, tmp_path, ALLOW_ALICE) as f:
        update = f.emulator.make_update("only once please", user_id=1001)
        await f.emulator.inject_update(f.token, update)
        await f.emulator.inject_update(f.token, update)  # same update id
        # the platform re-sends the message under a new update id: the gateway drops it by message id
        again = dict(update, update_id=f.emulator.next_update_id())
        await f.emulator.inject_update(f.token, again)
        assert await f.replies(1001, 1) == ["echo: only once please"]
        assert await f.silence(1001) == []
        assert f.llm.turns == 1


async def test_a_flood_from_one_sender_is_rate_limited(
    telegram_emulator: TelegramEmulator, telegram_token: str, tmp_path: Path
) -> None:
    settings = ChannelAccess(dm_policy="open", allow_from=("*",),
                             rate_limit=ChannelAccess().rate_limit.__class__(messages=3, per_seconds=600))
    async with flow(telegram_emulator, telegram_token, tmp_path, settings) as f:
        for n in range(8):
            await f.say(f"spam {n}", user=4004)
        replies = await f.replies(4004, 4)
        replies += await f.silence(4004)
        assert replies.count(RATE_LIMIT_REPLY) == 1
        assert len(replies) == 4 and f.llm.turns == 3
        await f.say("I am someone else", user=5005)
        assert await f.replies(5005, 1) == ["echo: I am someone else"]


async def test_bad_webhook_calls_get_4xx_and_the_gateway_keeps_serving(
    telegram_emulator: TelegramEmulator, telegram_token: str, tmp_path: Path
) -> None:
    async with flow(telegram_emulator, telegram_token, tmp_path, ALLOW_ALICE, "webhook") as f:
        assert f.webhook_url is not None
        good = f.emulator.make_update("sneaky", user_id=1001)
        async with httpx.AsyncClient(timeout=10) as client:
            url = f.webhook_url
            ok_headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
            assert (await client.post(url, json=good)).status_code == 403
            assert (await client.post(url, json=good, headers={"X-Telegram-Bot-Api-Secret-Token": "nope"})
                    ).status_code == 403
            assert (await client.post(url, content=b"{not json", headers=ok_headers)).status_code == 400
            assert (await client.post(url, json=[1, 2], headers=ok_headers)).status_code == 400
            bad_update = {"update_id": "x", "message": {"chat": "nowhere"}}
            response = await client.post(url, json=bad_update, headers=ok_headers)
            assert response.status_code == 400 and b"not a Telegram update" in response.content
            assert await _status_of_declared_oversize(url) == 413
            assert (await client.get(url)).status_code == 405
        assert await f.silence(1001) == []
        await f.say("still there?")
        assert await f.replies(1001, 1) == ["echo: still there?"]
