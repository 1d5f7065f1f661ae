"""Fuzzing webhook parsing: any WhatsApp payload maps to messages or a PayloadError, and any body
POSTed to a webhook app (JSON, nested, binary, oversized) gets a 200, 400 or 413, never a crash."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import anyio
from hypothesis import given
from hypothesis import strategies as st

from rustyclaw.adapters.channels.webhook_asgi import webhook_app
from rustyclaw.adapters.channels.whatsapp_mapping import PayloadError, to_inbound
from tests.fuzz.conftest import FUZZ

json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=20)),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(
        st.sampled_from(["object", "entry", "changes", "value", "messages", "metadata", "phone_number_id",
                         "from", "id", "type", "text", "body", "contacts", "wa_id", "audio", "x"]),
        inner, max_size=5)),
    max_leaves=25,
)
payloads = st.one_of(json_values, json_values.map(lambda v: {"object": "whatsapp_business_account", "entry": [
    {"changes": [{"field": "messages", "value": v}]}]}))


@FUZZ
@given(payloads)
def test_any_whatsapp_payload_maps_or_is_a_payload_error(payload: Any) -> None:
    try:
        messages = to_inbound(payload, channel="whatsapp", account="default", phone_number_id="1")
    except PayloadError:
        return
    assert all(m.channel == "whatsapp" and m.message_id for m in messages)


async def _handler(headers: Mapping[str, str], body: bytes) -> tuple[int, bytes]:
    try:
        json.loads(body)
    except ValueError:
        return 400, b'{"ok":false}'
    return 200, b'{"ok":true}'


async def _post(body: bytes) -> int:
    app = webhook_app(_handler, max_body=4096)
    sent: list[dict[str, Any]] = []
    chunks = [body[i:i + 1000] for i in range(0, len(body), 1000)] or [b""]
    events = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)]

    async def receive() -> dict[str, Any]:
        return events.pop(0) if events else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "headers": [(b"content-type", b"application/json")], "path": "/"}
    await app(scope, receive, send)
    return int(sent[0]["status"])


@FUZZ
@given(st.one_of(st.binary(max_size=5000), json_values.map(lambda v: json.dumps(v).encode()),
                 st.integers(1, 3000).map(lambda n: b"[" * n + b"]" * n)))
def test_any_webhook_body_is_answered_with_a_client_status(body: bytes) -> None:
    status = anyio.run(_post, body)
    assert status in (200, 400, 413)
