"""At-least-once delivery on WhatsApp: the webhook answers 200 only once a message is journaled
(Meta never redelivers after a 200), turns in flight at a stop are answered once after the restart,
a redelivered wamid is answered once, and a send that fails twice then succeeds is delivered once.
Real WhatsAppChannel behind the gateway's own HTTP server, the Graph API stand-in, SQLite store and
journal on a state folder that outlives each "process"; the stub model is not under test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from rustyclaw.adapters.channels.supervisor import ChannelSupervisor
from rustyclaw.adapters.channels.whatsapp import WhatsAppChannel
from rustyclaw.adapters.http.mounts import with_mounts
from rustyclaw.adapters.inbox.sqlite import SqliteInbox
from tests.channel_contract.harness_http import serving
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
from tests.integration.channel_kit import OPEN, until
from tests.integration.journal_kit import FAST_SENDS, HeldLLM, journaled_gateway, settled
from tests.integration.test_whatsapp_flows import WEBHOOK_PATH, not_found

pytestmark = pytest.mark.anyio
USERS = ("16315550001", "16315550002")


@dataclass
class Running:
    llm: HeldLLM
    inbox: SqliteInbox
    meta: WebhookSender


@asynccontextmanager
async def gateway_process(graph: GraphStandIn, state: Path, *, held: bool = False,
                          drain: float = 0.0) -> AsyncIterator[Running]:
    channel = WhatsAppChannel(ACCESS_TOKEN, APP_SECRET, VERIFY_TOKEN, PHONE_NUMBER_ID, api_base_url=graph.url,
                              api_version=API_VERSION, send_retry=FAST_SENDS)
    app = with_mounts(not_found, {WEBHOOK_PATH: channel.webhook_asgi_app()})
    async with journaled_gateway(state, {"whatsapp": OPEN}, held=held, drain=drain) as kit, \
            ChannelSupervisor([channel], kit.dispatcher) as supervisor, serving(app) as url:
        await supervisor.wait_started()
        yield Running(kit.llm, kit.inbox, WebhookSender(url + WEBHOOK_PATH))


async def test_turns_in_flight_at_a_stop_are_answered_once_after_the_restart(
    graph_standin: GraphStandIn, tmp_path: Path,
) -> None:
    graph = graph_standin
    async with gateway_process(graph, tmp_path, held=True, drain=0.1) as first:
        for user in USERS:
            for text in ("one", "two"):
                answer = await first.meta.post(text_message(user, f"{text} from {user}", wamid=new_wamid()))
                assert answer.status_code == 200  # only after the message is on disk
        assert (await first.inbox.counts()).unfinished == 4
        await until(lambda: first.llm.started == len(USERS))
    assert all(graph.sent_texts(user) == [] for user in USERS)
    async with gateway_process(graph, tmp_path) as second:
        for user in USERS:
            replies = await graph.wait_texts(user, 2)
            assert sorted(replies) == sorted([f"echo: one from {user}", f"echo: two from {user}"])
        counts = await settled(second.inbox, 4)
        assert (counts.delivered, counts.failed) == (4, 0)
        assert second.llm.turns == 4


async def test_a_redelivered_wamid_is_answered_once_even_after_a_restart(
    graph_standin: GraphStandIn, tmp_path: Path,
) -> None:
    graph = graph_standin
    payload = text_message(USERS[0], "hello there", wamid=new_wamid())
    async with gateway_process(graph, tmp_path) as first:
        assert (await first.meta.post(payload)).status_code == 200
        assert await graph.wait_texts(USERS[0], 1) == ["echo: hello there"]
        await settled(first.inbox, 1)
    async with gateway_process(graph, tmp_path) as second:
        assert (await second.meta.post(payload)).status_code == 200  # Meta retried it
        later = text_message(USERS[0], "and now?", wamid=new_wamid())
        assert (await second.meta.post(later)).status_code == 200
        assert await graph.wait_texts(USERS[0], 2) == ["echo: hello there", "echo: and now?"]
        assert second.llm.turns == 1


async def test_a_send_that_fails_twice_then_succeeds_is_delivered_once(
    graph_standin: GraphStandIn, tmp_path: Path,
) -> None:
    graph = graph_standin
    graph.fail_sends(1, status=500)
    graph.fail_sends(1, status=429)
    async with gateway_process(graph, tmp_path) as running:
        assert (await running.meta.post(text_message(USERS[1], "ping", wamid=new_wamid()))).status_code == 200
        assert await graph.wait_texts(USERS[1], 1) == ["echo: ping"]
        counts = await settled(running.inbox, 1)
        assert (counts.delivered, counts.failed) == (1, 0)
    assert graph.send_calls == 3 and graph.sent_texts(USERS[1]) == ["echo: ping"]


async def test_an_undeliverable_reply_is_recorded_as_failed_without_retries(
    graph_standin: GraphStandIn, tmp_path: Path,
) -> None:
    graph = graph_standin
    graph.fail_sends(1, status=400)
    async with gateway_process(graph, tmp_path) as running:
        assert (await running.meta.post(text_message(USERS[1], "ping", wamid=new_wamid()))).status_code == 200
        assert (await settled(running.inbox, 1)).failed == 1
        (entry,) = await running.inbox.failures()
        assert "131026" in (entry.error or "")
    assert graph.send_calls == 1
