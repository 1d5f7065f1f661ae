"""The Bot API stand-in keeps Telegram's getUpdates rules (the at-least-once tests rely on them):
updates stay until a later offset confirms them, a long poll waits for the next update, and a
second concurrent poll ends the first with 409 Conflict."""

from __future__ import annotations

import anyio
import httpx
import pytest

from tests.fixtures.telegram_standin import TelegramStandIn

pytestmark = pytest.mark.anyio


async def get_updates(standin: TelegramStandIn, **params: object) -> httpx.Response:
    async with httpx.AsyncClient(base_url=standin.base_url, timeout=30) as http:
        return await http.post(f"/bot{standin.token}/getUpdates", data={k: str(v) for k, v in params.items()})


async def test_updates_stay_until_a_later_offset_confirms_them(telegram_standin: TelegramStandIn) -> None:
    first = await telegram_standin.user_message("one")
    second = await telegram_standin.user_message("two")
    for _ in range(2):  # read twice without confirming: delivered again
        body = (await get_updates(telegram_standin)).json()
        assert [u["update_id"] for u in body["result"]] == [first, second]
    body = (await get_updates(telegram_standin, offset=first + 1)).json()
    assert [u["update_id"] for u in body["result"]] == [second]
    assert telegram_standin.unconfirmed() == [second]


async def test_a_long_poll_returns_when_an_update_arrives(telegram_standin: TelegramStandIn) -> None:
    async with anyio.create_task_group() as group:
        got: list[int] = []

        async def poll() -> None:
            body = (await get_updates(telegram_standin, timeout=20)).json()
            got.extend(u["update_id"] for u in body["result"])

        group.start_soon(poll)
        await telegram_standin.wait_polled()
        update = await telegram_standin.user_message("wake up")
    assert got == [update]


async def test_a_second_poll_ends_the_held_one_with_409(telegram_standin: TelegramStandIn) -> None:
    results: list[httpx.Response] = []
    async with anyio.create_task_group() as group:
        async def held() -> None:
            results.append(await get_updates(telegram_standin, timeout=20))

        group.start_soon(held)
        await telegram_standin.wait_polled()
        second = get_updates(telegram_standin, timeout=0)
        late = await second
    assert results[0].status_code == 409 and "terminated by other getUpdates" in results[0].json()["description"]
    assert late.status_code == 200 and telegram_standin.conflicts == 1
