"""The web page's streaming chat: a WebSocket at `/api/ws` carrying JSON text frames.

Client to server:
- `{"type": "auth", "token": str}`: the token, when the server has one and the handshake did not carry
  it (browsers cannot set headers on a WebSocket). Must be the first frame, within `ws_auth_timeout`.
- `{"type": "message", "text": str, "session": str | null, "agent": str | null, "id": str | null}`
- `{"type": "stop"}` cancels the turn in flight; `{"type": "ping"}` is answered with `{"type": "pong"}`.
- `{"type": "watch", "session": str}` (under `gateway.replicas`): this socket also receives the replies
  of that session made elsewhere (another socket, `POST /api/chat`, another replica), answered with
  `{"type": "watching", "session"}` once they flow. Sending a message watches its session too. At
  most MAX_WATCHED sessions per socket (the oldest stops). Without replicas: an `unsupported` error.

Server to client (`id` echoes the message's id on every frame of its turn):
- `{"type": "ready"}` once the connection may send messages;
- `{"type": "delta", "text"}` and `{"type": "tool", "name", "call_id", "status", "detail"}` while a
  turn runs, then exactly one of `{"type": "reply", "text", "session", "model", "usage", "command",
  "finish_reason"}`, `{"type": "error", "message", "code", "session"}` or `{"type": "stopped"}`;
- `{"type": "error", "message", "code"}` for a frame that could not be used (the connection stays);
- `{"type": "session_reply", "session", "message", "text", ...}` for a watched session's reply made
  elsewhere (adapters/http/relay.py).

Authentication, when a token is configured: `Authorization: Bearer <token>` on the handshake, or
`?token=<token>` in the URL (it may end up in proxy logs: prefer the others), or the `auth` frame.
A wrong token in the handshake is refused before the upgrade (HTTP 403); a missing or wrong `auth`
frame closes the socket with code 4401. One turn runs at a time per connection; a message sent while
one runs gets an error with code `busy`. Closing the socket cancels the turn in flight.
"""

from __future__ import annotations

import logging
import uuid
from collections import OrderedDict
from typing import Any

import anyio
import anyio.abc
import anyio.lowlevel
import msgspec

from rustyclaw.adapters.http.asgi import HttpError, Message, Receive, Scope, Send, encode_json
from rustyclaw.adapters.http.auth import bearer_token, check_browser_origin, query_token, token_matches
from rustyclaw.adapters.http.chat_api import reply_fields, web_message
from rustyclaw.adapters.http.relay import bus_session, relay_reply
from rustyclaw.adapters.http.settings import HttpSettings
from rustyclaw.adapters.http.turns import dropped, http_error_for
from rustyclaw.adapters.http.validation import (
    JSON_DEPTH_MESSAGE,
    checked_agent,
    checked_session_id,
    checked_text,
    new_session_id,
)
from rustyclaw.domain.errors import RustyClawError
from rustyclaw.domain.events import ReplyDelta, ToolActivity, TurnEvent
from rustyclaw.domain.messages import InboundMessage
from rustyclaw.ports.gateway import GatewayService
from rustyclaw.ports.session_events import SessionEvents

log = logging.getLogger(__name__)

CLOSE_UNAUTHORIZED = 4401
CLOSE_FORBIDDEN = 4403
# Sessions one socket watches at once: a page switching conversations stops watching the oldest.
MAX_WATCHED = 16


class AuthFrame(msgspec.Struct, tag="auth"):
    token: str = ""


class MessageFrame(msgspec.Struct, tag="message"):
    text: str
    session: str | None = None
    agent: str | None = None
    id: str | None = None


class StopFrame(msgspec.Struct, tag="stop"):
    pass


class PingFrame(msgspec.Struct, tag="ping"):
    pass


class WatchFrame(msgspec.Struct, tag="watch"):
    session: str


ClientFrame = AuthFrame | MessageFrame | StopFrame | PingFrame | WatchFrame
_frame_decoder = msgspec.json.Decoder(ClientFrame)


class WebSocketChat:
    """The `/api/ws` handler; one `_Connection` per socket."""

    def __init__(self, gateway: GatewayService, settings: HttpSettings, events: SessionEvents | None = None) -> None:
        self._gateway = gateway
        self._settings = settings
        self._events = events

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (await receive())["type"] != "websocket.connect":
            return
        token = self._settings.auth_token
        try:
            check_browser_origin(scope, token)
        except HttpError:
            await send({"type": "websocket.close", "code": CLOSE_FORBIDDEN})
            return
        given = bearer_token(scope) or query_token(scope)
        if given is not None and not token_matches(token, given):
            await send({"type": "websocket.close", "code": CLOSE_UNAUTHORIZED})
            return
        await send({"type": "websocket.accept"})
        connection = _Connection(self._gateway, self._settings, receive, send, self._events)
        if token is None or given is not None or await connection.authenticate():
            await connection.serve()


class _Connection:
    def __init__(self, gateway: GatewayService, settings: HttpSettings, receive: Receive, send: Send,
                 events: SessionEvents | None = None) -> None:
        self._gateway = gateway
        self._settings = settings
        self._receive = receive
        self._send = send
        self._send_lock = anyio.Lock()
        self._turn: anyio.CancelScope | None = None
        self.closed = False
        # The relay (under replicas): this socket's tag on what it publishes, so it skips its own
        # replies, and the sessions it watches (bus key -> the scope of the task relaying them).
        self._events = events
        self.origin = f"ws:{uuid.uuid4().hex}"
        self._watched: OrderedDict[str, anyio.CancelScope] = OrderedDict()

    async def send_frame(self, frame: dict[str, Any]) -> bool:
        """False once the socket is gone; the caller stops producing."""
        return await self.send_text(encode_json(frame).decode())

    async def send_text(self, text: str) -> bool:
        if self.closed:
            return False
        async with self._send_lock:
            try:
                await self._send({"type": "websocket.send", "text": text})
            except Exception as exc:
                log.debug("WebSocket send failed, client gone: %r", exc)
                self.closed = True
        return not self.closed

    async def authenticate(self) -> bool:
        with anyio.move_on_after(self._settings.ws_auth_timeout):
            message = await self._receive()
            if message["type"] == "websocket.disconnect":
                self.closed = True
                return False
            frame = self._decode(message)
            if isinstance(frame, AuthFrame) and token_matches(self._settings.auth_token, frame.token or None):
                return True
        await self.send_frame(
            {"type": "error", "code": "unauthorized", "message": 'send {"type": "auth", "token": ...} first'}
        )
        await self._close(CLOSE_UNAUTHORIZED)
        return False

    async def _close(self, code: int) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            await self._send({"type": "websocket.close", "code": code})
        except Exception as exc:
            log.debug("WebSocket close failed: %r", exc)

    async def serve(self) -> None:
        if not await self.send_frame({"type": "ready"}):
            return
        async with anyio.create_task_group() as group:
            while True:
                message = await self._receive()
                if message["type"] == "websocket.disconnect":
                    break
                if message["type"] != "websocket.receive":
                    continue
                frame = self._decode(message)
                if isinstance(frame, str):
                    await self.send_frame({"type": "error", "code": "invalid_frame", "message": frame})
                elif isinstance(frame, MessageFrame):
                    await self._start_turn(group, frame)
                elif isinstance(frame, StopFrame):
                    if self._turn is not None:
                        self._turn.cancel()
                elif isinstance(frame, PingFrame):
                    await self.send_frame({"type": "pong"})
                elif isinstance(frame, WatchFrame):
                    await self._watch_frame(group, frame)
                else:
                    await self.send_frame({"type": "ready"})
            self.closed = True
            group.cancel_scope.cancel()

    async def _watch_frame(self, group: anyio.abc.TaskGroup, frame: WatchFrame) -> None:
        if self._events is None:
            await self.send_frame({"type": "error", "code": "unsupported",
                                   "message": "replies are relayed between sockets only under gateway.replicas"})
            return
        try:
            session = checked_session_id(frame.session, "session")
        except HttpError as error:
            await self.send_frame({"type": "error", "code": error.code, "message": error.message})
            return
        if session is None:
            await self.send_frame({"type": "error", "code": "invalid_input", "message": "session is empty"})
            return
        await self._watch(group, session)
        await self.send_frame({"type": "watching", "session": session})

    async def _watch(self, group: anyio.abc.TaskGroup, session: str) -> None:
        """Returns once the subscription is in place: every reply published after it is relayed."""
        if self._events is None:
            return
        key = bus_session(self._settings, session)
        if key in self._watched:
            self._watched.move_to_end(key)
            return
        if len(self._watched) >= MAX_WATCHED:
            _, oldest = self._watched.popitem(last=False)
            oldest.cancel()
        self._watched[key] = await group.start(self._relay, self._events, key)

    async def _relay(
        self, events: SessionEvents, key: str, *, task_status: anyio.abc.TaskStatus[anyio.CancelScope],
    ) -> None:
        with anyio.CancelScope() as scope:
            async with events.subscribe(key) as stream:
                task_status.started(scope)
                async for event in stream:
                    if event.origin != self.origin and not await self.send_text(event.body):
                        break
        if self._watched.get(key) is scope:
            del self._watched[key]

    def _decode(self, message: Message) -> ClientFrame | str:
        """The frame, or why it cannot be used."""
        data = message.get("text")
        if data is None:
            data = message.get("bytes") or b""
        if len(data) > self._settings.max_body_bytes:
            return f"frame is larger than {self._settings.max_body_bytes} bytes"
        try:
            frame: ClientFrame = _frame_decoder.decode(data)
        except msgspec.DecodeError as exc:
            return f"invalid frame: {exc}"
        except RecursionError:
            return JSON_DEPTH_MESSAGE  # an error frame; the connection stays open
        return frame

    async def _start_turn(self, group: anyio.abc.TaskGroup, frame: MessageFrame) -> None:
        if self._turn is not None:
            await self.send_frame(
                {"type": "error", "id": frame.id, "code": "busy", "message": "a reply is still being written"}
            )
            return
        settings = self._settings
        try:
            session = checked_session_id(frame.session, "session") or new_session_id()
            text = checked_text(frame.text, settings.max_message_chars, "text")
            agent = checked_agent(frame.agent, settings.agent_ids, "agent")
        except HttpError as error:
            await self.send_frame(
                {"type": "error", "id": frame.id, "code": error.code, "message": error.message}
            )
            return
        # Taken before the task starts, so a second message right behind this one sees it as busy.
        self._turn = anyio.CancelScope()
        await self._watch(group, session)
        group.start_soon(self._run_turn, web_message(settings, text, session, agent), session, frame.id)

    async def _run_turn(self, message: InboundMessage, session: str, frame_id: str | None) -> None:
        scope = self._turn
        assert scope is not None

        async def emit(event: TurnEvent) -> None:
            if isinstance(event, ReplyDelta):
                frame: dict[str, Any] = {"type": "delta", "id": frame_id, "text": event.text}
            elif isinstance(event, ToolActivity):
                frame = {
                    "type": "tool",
                    "id": frame_id,
                    "name": event.name,
                    "call_id": event.call_id,
                    "status": event.status,
                    "detail": event.detail,
                }
            else:
                return
            if not await self.send_frame(frame):
                scope.cancel()
                await anyio.lowlevel.checkpoint()

        final: dict[str, Any] | None = None
        try:
            with scope:
                final = await self._final_frame(message, session, emit)
        finally:
            self._turn = None
        if final is None:
            final = {"type": "stopped"}
        await self.send_frame({**final, "id": frame_id})
        if final["type"] == "reply":
            fields = {key: value for key, value in final.items() if key not in ("type", "text")}
            await relay_reply(self._events, self._settings, session=session, message=message.text,
                              fields={"reply": final["text"], **fields}, origin=self.origin)

    async def _final_frame(self, message: InboundMessage, session: str, emit: Any) -> dict[str, Any]:
        try:
            reply = await self._gateway.handle(message, emit)
        except RustyClawError as exc:
            error = http_error_for(exc)
            return {"type": "error", "code": error.code, "message": error.message, "session": session}
        except Exception:
            log.exception("the gateway failed on a WebSocket message")
            return {
                "type": "error",
                "code": "internal_error",
                "message": "internal error",
                "session": session,
            }
        if reply is None:
            error = dropped()
            return {"type": "error", "code": error.code, "message": error.message, "session": session}
        if reply.error is not None:
            return {"type": "error", "code": "turn_failed", "message": reply.error, "session": session}
        fields = reply_fields(reply, session)
        return {"type": "reply", "text": fields.pop("reply"), **fields}
