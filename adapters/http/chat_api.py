"""The web page's request/response chat call: `POST /api/chat`.

Body `{"message": str, "session": str | null, "agent": str | null}`; answer
`{"reply", "session", "model", "usage", "command", "finish_reason", "attachments"}` (attachments:
images a tool made during the turn, e.g. a browser screenshot, as `{kind, mime, name, data}` with
`data` in base64). Without `session` the server
makes one and returns it; the caller sends it back to stay in the same conversation. The session id
is the web channel's peer, so each browser (its id lives in localStorage) is its own conversation.
Errors have the OpenAI shape, like every other route.
"""

from __future__ import annotations

import base64
import time

import msgspec

from rustyclaw.adapters.http.asgi import HttpError, Receive, Scope, Send, read_body, send_json
from rustyclaw.adapters.http.auth import check_bearer
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


class ChatRequest(msgspec.Struct):
    message: str
    session: str | None = None
    agent: str | None = None


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

    def __init__(self, gateway: GatewayService, settings: HttpSettings) -> None:
        self._gateway = gateway
        self._settings = settings

    async def chat(self, scope: Scope, receive: Receive, send: Send) -> None:
        settings = self._settings
        check_bearer(scope, settings.auth_token)
        request = decode_json(await read_body(scope, receive, settings.max_body_bytes), ChatRequest)
        text = checked_text(request.message, settings.max_message_chars, "message")
        session = checked_session_id(request.session, "session") or new_session_id()
        agent = checked_agent(request.agent, settings.agent_ids, "agent")
        reply = await HttpTurn(self._gateway, receive).run(web_message(settings, text, session, agent))
        if reply is None:
            raise dropped()
        if reply.error is not None:
            raise HttpError(502, reply.error, type="server_error", code="turn_failed")
        await send_json(send, 200, reply_fields(reply, session))
