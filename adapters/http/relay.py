"""Web chat replies relayed between gateway replicas (ports/session_events.py).

With a bus (only under `gateway.replicas`), every finished reply of a web session, whether made on a
WebSocket or by `POST /api/chat`, is published as a `session_reply` frame; each replica's sockets
watching that session receive it, except the socket that produced it (it has its own `reply`):

`{"type": "session_reply", "session", "message", "text", "model", "usage", "command", "finish_reason",
"attachments"}` (`message` is the user's text the reply answers).

A failure to publish is logged and never fails the turn: the reply is stored and was answered to
its own client; the relay is a convenience for the other open sockets.
"""

from __future__ import annotations

import logging

from rustyclaw.adapters.http.asgi import encode_json
from rustyclaw.adapters.http.settings import HttpSettings
from rustyclaw.domain.errors import RustyClawError
from rustyclaw.ports.session_events import SessionEvent, SessionEvents

log = logging.getLogger(__name__)


def bus_session(settings: HttpSettings, session: str) -> str:
    """The bus key of a web session id: the channel name keeps other channels' keys apart."""
    return f"{settings.channel}:{session}"


async def relay_reply(
    events: SessionEvents | None, settings: HttpSettings, *, session: str, message: str,
    fields: dict[str, object], origin: str,
) -> None:
    """Publishes one reply; `fields` are chat_api.reply_fields of it."""
    if events is None:
        return
    body = {**fields, "type": "session_reply", "message": message, "text": fields["reply"]}
    del body["reply"]
    event = SessionEvent(session=bus_session(settings, session), origin=origin, body=encode_json(body).decode())
    try:
        await events.publish(event)
    except RustyClawError as exc:
        log.warning("a web chat reply was not relayed to the other replicas: %s", exc)
