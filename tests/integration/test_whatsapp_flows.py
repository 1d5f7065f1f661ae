"""WhatsApp end to end: signed webhooks POSTed (with httpx) into the gateway's own HTTP server,
through the channel, the supervisor, the dispatcher, access control and a real Gateway; replies
captured by the Graph API stand-in.

The webhook is mounted the way `rustyclaw serve` mounts it: `with_mounts(app, {WEBHOOK_PATH:
channel.webhook_asgi_app()})` in front of another app.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import anyio
import pytest

from rustyclaw.adapters.channels.supervisor import ChannelSupervisor
from rustyclaw.adapters.channels.webhook_asgi import Receive, Scope, Send
from rustyclaw.adapters.channels.whatsapp import WhatsAppChannel, whatsapp_channel_from_config
from rustyclaw.adapters.channels.whatsapp_signature import sign, signature_ok
from rustyclaw.adapters.clock import SystemClock
from rustyclaw.adapters.http.mounts import with_mounts
from rustyclaw.adapters.pairing.memory import MemoryPairingStore
from rustyclaw.config.channels import WhatsAppConfig
from rustyclaw.domain.access import ChannelAccess
from rustyclaw.domain.dispatch import ChannelDispatcher
from rustyclaw.domain.errors import ChannelError, ConfigError
from rustyclaw.domain.messages import OutboundMessage
from rustyclaw.domain.pairing import CODE_ALPHABET, PairingService
from tests.channel_contract.contract import QUIET_SECONDS, Recorder
from tests.channel_contract.harness_http import serving
from tests.fixtures.graph_standin import (
    ACCESS_TOKEN,
    API_VERSION,
    APP_SECRET,
    PHONE_NUMBER_ID,
    VERIFY_TOKEN,
    GraphStandIn,
    WebhookSender,
    audio_message,
    event,
    new_wamid,
    text_message,
)
from tests.integration.channel_kit import OPEN, ReplyLLM, build_gateway

pytestmark = pytest.mark.anyio
WEBHOOK_PATH = "/channels/whatsapp/webhook"
USER = "16315551181"


def make_channel(graph: GraphStandIn, **kw: object) -> WhatsAppChannel:
    return WhatsAppChannel(ACCESS_TOKEN, APP_SECRET, VERIFY_TOKEN, PHONE_NUMBER_ID,
                           api_base_url=graph.url, api_version=API_VERSION, **kw)  # type: ignore[arg-type]


async def not_found(scope: Scope, receive: Receive, send: Send) -> None:
    """Stands for the gateway's main app behind the mount."""
    await send({"type": "http.response.start", "status": 404, "headers": []})
    await send({"type": "http.response.body", "body": b""})


@dataclass
class Flow:
    graph: GraphStandIn
    channel: WhatsAppChannel
    meta: WebhookSender
    llm: ReplyLLM


@pytest.fixture
async def flow(graph_standin: GraphStandIn) -> AsyncIterator[Flow]:
    llm = ReplyLLM()
    gateway = await build_gateway(llm, {"whatsapp": OPEN})
    channel = make_channel(graph_standin)
    app = with_mounts(not_found, {WEBHOOK_PATH: channel.webhook_asgi_app()})
    async with serving(app) as url, ChannelSupervisor(
        [channel], lambda ch: ChannelDispatcher(gateway, ch)
    ) as supervisor:
        await supervisor.wait_started()
        yield Flow(graph_standin, channel, WebhookSender(url + WEBHOOK_PATH), llm)


async def test_verification_answers_the_challenge_only_with_the_right_token(flow: Flow) -> None:
    ok = await flow.meta.verify(**{"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN,
                                   "hub.challenge": "1158201444"})
    assert (ok.status_code, ok.text) == (200, "1158201444")
    assert ok.headers["content-type"].startswith("text/plain")
    wrong = await flow.meta.verify(**{"hub.mode": "subscribe", "hub.verify_token": "guess",
                                      "hub.challenge": "1"})
    not_subscribe = await flow.meta.verify(**{"hub.mode": "unsubscribe", "hub.verify_token": VERIFY_TOKEN,
                                              "hub.challenge": "1"})
    bare = await flow.meta.verify()
    assert [r.status_code for r in (wrong, not_subscribe, bare)] == [403, 403, 403]
    assert "1" not in wrong.text


async def test_a_signed_text_message_is_answered_through_the_graph_api(flow: Flow) -> None:
    wamid = new_wamid()
    response = await flow.meta.post(text_message(USER, "hello from whatsapp", wamid=wamid))
    assert response.status_code == 200
    assert await flow.graph.wait_texts(USER, 1) == ["echo: hello from whatsapp"]
    [sent] = [m for m in flow.graph.messages if m.get("type") == "text"]
    assert sent["messaging_product"] == "whatsapp" and sent["to"] == USER
    assert sent["text"]["preview_url"] is False
    [receipt] = flow.graph.read_receipts()  # marked read with a typing indicator before the answer
    assert receipt["message_id"] == wamid and receipt["typing_indicator"] == {"type": "text"}
    assert flow.graph.unauthorised == 0


async def test_a_bad_signature_is_refused_and_nothing_is_processed(flow: Flow) -> None:
    payload = text_message(USER, "forged")
    body = json.dumps(payload).encode()
    wrong = await flow.meta.post(body, signature=sign(body, "not-the-app-secret"))
    tampered = await flow.meta.post(body.replace(b"forged", b"FORGED"), signature=sign(body, APP_SECRET))
    garbage = await flow.meta.post(body, signature="sha256=zz")
    unsigned = await flow.meta.post(body, signature=None)
    assert [r.status_code for r in (wrong, tampered, garbage, unsigned)] == [403, 403, 403, 403]
    await anyio.sleep(QUIET_SECONDS)
    assert flow.llm.turns == 0 and flow.graph.messages == []
    # The very same body, properly signed, goes through: the refusals were about the signature.
    assert (await flow.meta.post(body)).status_code == 200
    assert await flow.graph.wait_texts(USER, 1) == ["echo: forged"]


async def test_malformed_payloads_get_400(flow: Flow) -> None:
    bad = [b"{not json", b"[1, 2]", b'{"object": "page", "entry": []}',
           b'{"object": "whatsapp_business_account", "entry": [{"changes": "x"}]}']
    statuses = [(await flow.meta.post(body)).status_code for body in bad]
    assert statuses == [400, 400, 400, 400]
    await anyio.sleep(QUIET_SECONDS)
    assert flow.llm.turns == 0
    # and the channel keeps serving
    await flow.meta.post(text_message(USER, "still there?"))
    assert await flow.graph.wait_texts(USER, 1) == ["echo: still there?"]


async def test_an_oversized_body_gets_413_before_it_is_read(flow: Flow) -> None:
    payload = text_message(USER, "x" * (2 << 20))
    assert (await flow.meta.post(payload)).status_code == 413
    await anyio.sleep(QUIET_SECONDS)
    assert flow.llm.turns == 0


async def test_a_redelivered_wamid_is_answered_once(flow: Flow) -> None:
    payload = text_message(USER, "only once", wamid=new_wamid())
    first = await flow.meta.post(payload)
    again = await flow.meta.post(payload)
    assert (first.status_code, again.status_code) == (200, 200)  # Meta must stop redelivering
    await flow.graph.wait_texts(USER, 1)
    await anyio.sleep(QUIET_SECONDS)
    assert flow.graph.sent_texts(USER) == ["echo: only once"] and flow.llm.turns == 1


async def test_status_callbacks_and_other_numbers_are_ignored(flow: Flow) -> None:
    statuses = event([], statuses=[{"id": "wamid.out1", "status": "delivered", "timestamp": "1700000001",
                                    "recipient_id": USER}])
    other_number = text_message(USER, "for someone else")
    other_number["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] = "999"
    reaction = event([{"from": USER, "id": new_wamid(), "timestamp": "1", "type": "reaction",
                       "reaction": {"message_id": "wamid.out1", "emoji": "+"}}])
    for payload in (statuses, other_number, reaction):
        assert (await flow.meta.post(payload)).status_code == 200
    await anyio.sleep(QUIET_SECONDS)
    assert flow.llm.turns == 0 and flow.graph.messages == []


async def test_a_long_reply_is_split_at_4096(flow: Flow) -> None:
    words = [f"w{i:05d}" for i in range(1300)]  # 7 chars a word: ~9100 characters
    flow.llm.reply = " ".join(words)
    await flow.meta.post(text_message(USER, "a long one please"))
    pieces = await flow.graph.wait_texts(USER, 3)
    assert all(0 < len(p) <= 4096 for p in pieces)
    assert " ".join(pieces).split() == words


async def test_an_unknown_sender_gets_a_pairing_code(graph_standin: GraphStandIn) -> None:
    llm = ReplyLLM()
    gateway = await build_gateway(llm, {"whatsapp": ChannelAccess()},
                                  PairingService(MemoryPairingStore(), SystemClock()))
    channel = make_channel(graph_standin)
    async with serving(channel.webhook_asgi_app()) as url, ChannelSupervisor(
        [channel], lambda ch: ChannelDispatcher(gateway, ch)
    ) as supervisor:
        await supervisor.wait_started()
        await WebhookSender(url).post(text_message(USER, "hi"))
        [reply] = await graph_standin.wait_texts(USER, 1)
    assert re.search(rf"\b[{CODE_ALPHABET}]{{8}}\b", reply) and "pairing approve whatsapp" in reply
    assert llm.turns == 0


async def test_a_voice_note_arrives_as_a_voice_attachment_whose_media_can_be_fetched(
    graph_standin: GraphStandIn,
) -> None:
    graph_standin.add_media("1037543291543636", b"OggS-voice-bytes")
    channel = make_channel(graph_standin)
    recorder = Recorder()
    async with serving(channel.webhook_asgi_app()) as url:
        await channel.start(recorder)
        try:
            wamid = new_wamid()
            assert (await WebhookSender(url).post(audio_message(USER, "1037543291543636", wamid=wamid))).status_code \
                == 200
            [message] = await recorder.wait_for(1)
            [voice] = message.attachments
            data = await channel.fetch_media(voice)
        finally:
            await channel.aclose()
    assert (message.message_id, message.peer_id, message.sender_id, message.text) == (wamid, USER, USER, "")
    assert (voice.kind, voice.mime, voice.url) == ("voice", "audio/ogg; codecs=opus", "whatsapp-media:1037543291543636")
    assert data == b"OggS-voice-bytes"


async def test_a_payload_without_a_phone_number_uses_the_business_scoped_id(graph_standin: GraphStandIn) -> None:
    channel = make_channel(graph_standin)
    recorder = Recorder()
    payload = text_message(USER, "hidden number", user_id="US.13491208655302741918", name="Kerry")
    value = payload["entry"][0]["changes"][0]["value"]
    del value["messages"][0]["from"]
    del value["contacts"][0]["wa_id"]
    await channel.start(recorder)
    try:
        assert (await channel.handle_event({"x-hub-signature-256": sign(json.dumps(payload).encode(), APP_SECRET)},
                                           json.dumps(payload).encode()))[0] == 200
        [message] = await recorder.wait_for(1)
    finally:
        await channel.aclose()
    assert message.sender_id == message.peer_id == "US.13491208655302741918"
    assert message.sender_name == "Kerry" and message.chat_kind == "direct"


async def test_a_signed_post_to_a_stopped_channel_gets_503_so_meta_retries(graph_standin: GraphStandIn) -> None:
    channel = make_channel(graph_standin)
    body = json.dumps(text_message(USER, "too early")).encode()
    status, content_type, _ = await channel.handle_webhook("POST", {}, {"x-hub-signature-256": sign(body, APP_SECRET)},
                                                           body)
    assert (status, content_type) == (503, "application/json")
    assert (await channel.handle_webhook("POST", {}, {}, body))[0] == 403
    assert (await channel.handle_webhook("PUT", {}, {}, body))[0] == 405
    verified = await channel.handle_webhook("GET", {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN,
                                                    "hub.challenge": "42"}, {}, b"")
    assert verified == (200, "text/plain; charset=utf-8", b"42")


async def test_send_errors_are_channel_errors(graph_standin: GraphStandIn) -> None:
    wrong_token = WhatsAppChannel("expired", APP_SECRET, VERIFY_TOKEN, PHONE_NUMBER_ID,
                                  api_base_url=graph_standin.url, api_version=API_VERSION)
    out = OutboundMessage(channel="whatsapp", peer_id=USER, text="hi")
    with pytest.raises(ChannelError, match="not running"):
        await wrong_token.send(out)
    await wrong_token.start(Recorder())
    try:
        with pytest.raises(ChannelError, match=r"HTTP 401: Invalid OAuth access token"):
            await wrong_token.send(out)
    finally:
        await wrong_token.aclose()


def test_signatures() -> None:
    body = b'{"a": 1}'
    good = sign(body, "s3cret")
    assert signature_ok(body, good, "s3cret")
    assert signature_ok(body, good.upper().replace("SHA256=", "sha256="), "s3cret")
    assert not signature_ok(body, good, "other")
    assert not signature_ok(body + b" ", good, "s3cret")
    assert not signature_ok(body, good.removeprefix("sha256="), "s3cret")
    assert not signature_ok(body, None, "s3cret")
    assert not signature_ok(body, good, "")


def test_config_mapping() -> None:
    channel = whatsapp_channel_from_config(WhatsAppConfig.model_validate({
        "enabled": True, "accessToken": "a", "appSecret": "s", "verifyToken": "v", "phoneNumberId": 123,
        "apiBaseUrl": "http://127.0.0.1:9/", "apiVersion": "v22.0", "dmPolicy": "pairing",
    }))
    assert channel.phone_number_id == "123" and channel._api == "http://127.0.0.1:9/v22.0"
    assert channel.name == "whatsapp" and channel.text_limit == 4096
    with pytest.raises(ConfigError, match="appSecret"):
        whatsapp_channel_from_config(WhatsAppConfig.model_validate(
            {"accessToken": "a", "verifyToken": "v", "phoneNumberId": "1"}))
