"""The web page's request/response chat call: `POST /api/chat`.

Body `{"message": str, "session": str | null, "agent": str | null}`; answer
`{"reply", "session", "model", "usage", "command", "finish_reason", "attachments"}` (attachments:
images a tool made during the turn, e.g. a browser screenshot, as `{kind, mime, name, data}` with
`data` in base64). Without `session` the server
makes one and returns it; the caller sends it back to stay in the same conversation. The session id
is the web channel's peer, so each browser (its id lives in localStorage) is its own conversation.
Errors have the OpenAI shape, like every other route.

An `Idempotency-Key` header (or the body's `clientMessageId`) makes retries safe: a retry gets the
first attempt's answer (`Idempotent-Replayed: true`), never a second turn; the same key with another
message is a 422 (adapters/http/idempotency.py). A keyed request without `session` gets a session id
derived from the key, so its retries land in the same session.
"""

from __future__ import annotations

import base64
import time

import msgspec

from rustyclaw.adapters.http.asgi import (
    JSON_TYPE,
    HttpError,
    Receive,
    Scope,
    Send,
    encode_json,
    read_body,
    send_bytes,
)
from rustyclaw.adapters.http.auth import check_bearer
from rustyclaw.adapters.http.idempotency import REPLAYED, IdempotentTurns, keyed, request_key, session_for_key
from rustyclaw.adapters.http.relay import relay_reply
from rustyclaw.adapters.http.settings import HttpSettings
from rustyclaw.adapters.http.turns import HttpTurn, dropped
from rustyclaw.adapters.http.validation import (
    checked_agent,
    checked_session_id,
    checked_text,
    decode_json,
    new_session_id,
)
from rustyclaw.domain.events import Reply
from rustyclaw.domain.messages import InboundMessage
from rustyclaw.ports.gateway import GatewayService
from rustyclaw.ports.session_events import SessionEvents


class ChatRequest(msgspec.Struct):
    message: str
    session: str | None = None
    agent: str | None = None
    client_message_id: str | None = msgspec.field(default=None, name="clientMessageId")


def web_message(settings: HttpSettings, text: str, session: str, agent: str | None) -> InboundMessage:
    """The InboundMessage of one page message: the session id is peer, sender and session hint."""
    return InboundMessage(
        channel=settings.channel,
        peer_id=session,
        sender_id=session,
        text=text,
        chat_kind="direct",
        session_hint=session,
        agent_hint=agent,
        received_at=time.time(),
    )


def reply_fields(reply: Reply, session: str) -> dict[str, object]:
    usage = reply.usage
    return {
        "reply": reply.text,
        "session": session,
        "model": reply.model,
        "usage": {
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "total_tokens": usage.total_tokens,
        },
        "command": reply.command,
        "finish_reason": reply.finish_reason,
        "attachments": [
            {"kind": a.kind, "mime": a.mime, "name": a.name, "data": base64.b64encode(a.data).decode("ascii")}
            for a in reply.attachments if a.data is not None and a.kind == "image"
        ],
    }


class ChatApi:
    """Handler of `POST /api/chat`."""

    def __init__(self, gateway: GatewayService, settings: HttpSettings, events: SessionEvents | None = None,
                 idempotent: IdempotentTurns | None = None) -> None:
        self._gateway = gateway
        self._settings = settings
        # Under gateway.replicas: the reply also reaches sockets watching the session on any replica.
        self._events = events
        # The inbound journal for keyed requests; None without one (delivery.journal: false).
        self._idempotent = idempotent

    async def chat(self, scope: Scope, receive: Receive, send: Send) -> None:
        settings = self._settings
        check_bearer(scope, settings.auth_token)
        request = decode_json(await read_body(scope, receive, settings.max_body_bytes), ChatRequest)
        text = checked_text(request.message, settings.max_message_chars, "message")
        key = request_key(scope, request.client_message_id)
        session = checked_session_id(request.session, "session") or (
            session_for_key(key) if key is not None else new_session_id())
        agent = checked_agent(request.agent, settings.agent_ids, "agent")
        message = web_message(settings, text, session, agent)
        relayed: dict[str, object] = {}

        async def turn(message: InboundMessage) -> bytes:
            reply = await HttpTurn(self._gateway, receive).run(message)
            if reply is None:
                raise dropped()
            if reply.error is not None:
                raise HttpError(502, reply.error, type="server_error", code="turn_failed")
            relayed.update(reply_fields(reply, session))
            return encode_json(relayed)

        if key is None or self._idempotent is None:
            # Without a journal a keyed message still carries its id: the session store's inbound
            # dedup then finishes or repeats its stored turn rather than storing it twice.
            await send_bytes(send, 200, await turn(message if key is None else keyed(message, key)), JSON_TYPE[1])
        else:
            message = keyed(message, key)
            answer = await self._idempotent.answer(message, turn)
            await send_bytes(send, 200, answer.body, JSON_TYPE[1], (REPLAYED,) if answer.replayed else ())
            if answer.replayed:
                return  # the attempt whose answer this is relayed it
        # After the answer, so the caller never waits for the relay.
        await relay_reply(self._events, settings, session=session, message=text, fields=relayed, origin="http")
