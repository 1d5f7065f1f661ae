"""`POST /api/voice`: a voice message from the web page (WAV, MP3, OGG/Opus bytes as the body).

Query `?session=<id>&agent=<id>` as in `POST /api/chat`; the body is the audio itself, its type
in `Content-Type`. Answer `{"transcript", "reply", "audio", "audio_mime", "session", "command",
"finish_reason"}`; `audio` is the spoken reply as base64 OGG/Opus when text to speech applies,
else null. Bad audio is not an HTTP error: the reply text says what was wrong (200 with
`finish_reason: "error"`), as a chat platform would show it.

Mount it in front of the main app: `with_mounts(app, {VOICE_PATH: voice_app(gateway, settings)})`.
"""

from __future__ import annotations

import base64
import time
from urllib.parse import parse_qs

from rustyclaw.adapters.http.asgi import (
    ASGIApp,
    ClientGone,
    HttpError,
    Receive,
    Scope,
    Send,
    header,
    read_body,
    send_error,
    send_json,
)
from rustyclaw.adapters.http.auth import check_bearer, check_browser_origin
from rustyclaw.adapters.http.settings import HttpSettings
from rustyclaw.adapters.http.turns import HttpTurn, dropped
from rustyclaw.adapters.http.validation import checked_agent, checked_session_id, new_session_id
from rustyclaw.domain.messages import Attachment, InboundMessage
from rustyclaw.ports.gateway import GatewayService

VOICE_PATH = "/api/voice"
DEFAULT_MAX_AUDIO_BYTES = 20 << 20


def _query(scope: Scope) -> dict[str, str]:
    raw = scope.get("query_string", b"").decode("latin-1")
    # Blank values kept: `?session=` is a bad session id (400), not a request for a new session.
    return {k: v[-1] for k, v in parse_qs(raw, keep_blank_values=True).items()}


def voice_app(
    gateway: GatewayService, settings: HttpSettings, *, max_audio_bytes: int = DEFAULT_MAX_AUDIO_BYTES
) -> ASGIApp:
    """The ASGI app serving `POST /api/voice`."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            if scope.get("method") != "POST":
                raise HttpError(405, "use POST with the audio as the body", code="method_not_allowed",
                                headers=[(b"allow", b"POST")])
            # Mounted in front of the main app, so the browser checks it applies to POSTs run here too:
            # without a token, a foreign page must not push audio (and so tool calls) into the agent.
            check_browser_origin(scope, settings.auth_token)
            check_bearer(scope, settings.auth_token)
            query = _query(scope)
            session = checked_session_id(query.get("session"), "session") or new_session_id()
            agent = checked_agent(query.get("agent"), settings.agent_ids, "agent")
            data = await read_body(scope, receive, max_audio_bytes)
            if not data:
                raise HttpError(400, "the body is empty: send the audio itself as the request body",
                                code="empty_body")
            mime = (header(scope, b"content-type") or b"application/octet-stream").decode("latin-1")
            message = InboundMessage(
                channel=settings.channel, peer_id=session, sender_id=session, chat_kind="direct",
                session_hint=session, agent_hint=agent, received_at=time.time(),
                attachments=(Attachment(kind="voice", mime=mime.split(";")[0].strip(), data=data,
                                        size=len(data)),),
            )
            reply = await HttpTurn(gateway, receive).run(message)
            if reply is None:
                raise dropped()
        except HttpError as error:
            await send_error(send, error)
            return
        except ClientGone:
            return
        audio = next((a for a in reply.attachments if a.kind == "voice" and a.data), None)
        await send_json(send, 200, {
            "transcript": reply.transcript,
            "reply": reply.text,
            "audio": base64.b64encode(audio.data).decode("ascii") if audio and audio.data else None,
            "audio_mime": audio.mime if audio else None,
            "session": session,
            "command": reply.command,
            "finish_reason": reply.finish_reason,
        })

    return app
