"""The OpenAI-compatible endpoint: `POST /v1/chat/completions`, `GET /v1/models`, `GET /v1/models/{id}`.

Two modes, picked per request (README "OpenAI-compatible endpoint"):
- Session mode: `user`, or the header `x-rustyclaw-session-key` (OpenClaw's `x-openclaw-session-key`
  is read too), names a session the gateway keeps. Only the newest user message is new input; the
  gateway's stored history is the context.
- Stateless mode (neither given): the client's whole `messages` list is the conversation (what Open
  WebUI and most clients send each time); nothing is stored.
Either way the agent's own system prompt and tools apply, and the request's `max_tokens` /
`max_completion_tokens`, `temperature`, `top_p`, `stop`, `seed` and `system` (or `developer`)
messages (appended to the agent's prompt for this turn) reach the model; `stream_options.include_usage`
adds the usage chunk. Client-side `tools` are refused with a 400 (the agent runs its own tools; it
cannot hand calls back to the client), as is `n` > 1. Other OpenAI fields are accepted and ignored.

`model` names an agent (`rustyclaw/<agentId>`, OpenClaw's `openclaw:<agentId>` / `agent:<agentId>`,
or a bare `<agentId>`; any other name goes to the default agent; a prefixed unknown agent is a 404);
the header `x-rustyclaw-agent-id` (or `x-openclaw-agent-id`) picks one too.

Failures: before any output, an OpenAI-shaped error with a status (a Reply whose `error` is set is a
502 carrying that text). Once a stream has started, the failure is sent the way OpenAI itself does
it, as an SSE event `data: {"error": {...}}` followed by `data: [DONE]`; OpenAI's client libraries
raise an API error on that event, so a failed turn never looks like a normal answer.

`Idempotency-Key` (adapters/http/idempotency.py): a non-streaming retry gets the first attempt's
completion again, byte for byte (same id), with `Idempotent-Replayed: true`; a streaming retry gets
it as a stream (the same id, its text in one chunk); the same key with a different request is a 422.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

import msgspec

from rustyclaw.adapters.http import sse
from rustyclaw.adapters.http.asgi import (
    JSON_TYPE,
    ClientGone,
    HttpError,
    Receive,
    Scope,
    Send,
    encode_json,
    header,
    internal_error,
    read_body,
    send_bytes,
    send_json,
)
from rustyclaw.adapters.http.auth import check_bearer
from rustyclaw.adapters.http.idempotency import REPLAYED, IdempotentTurns, keyed, request_key
from rustyclaw.adapters.http.settings import HttpSettings
from rustyclaw.adapters.http.turns import HttpTurn, dropped
from rustyclaw.adapters.http.validation import checked_session_id, checked_text, decode_json
from rustyclaw.domain.events import Reply, ReplyDelta, ToolActivity, TurnEvent
from rustyclaw.domain.messages import Attachment, ChatMessage, InboundMessage, Role, ToolCall, TurnOptions
from rustyclaw.ports.gateway import GatewayService

log = logging.getLogger(__name__)

MODEL_PREFIX = "rustyclaw/"
# OpenClaw's model-name forms for an agent, accepted so that its clients' settings carry over.
_AGENT_PREFIXES = (MODEL_PREFIX, "openclaw:", "agent:")
SESSION_HEADERS = (b"x-rustyclaw-session-key", b"x-openclaw-session-key")
AGENT_HEADERS = (b"x-rustyclaw-agent-id", b"x-openclaw-agent-id")
MAX_STOP_SEQUENCES = 4  # OpenAI's own limit


class ImageUrl(msgspec.Struct):
    url: str


class ContentPart(msgspec.Struct):
    type: str
    text: str | None = None
    image_url: ImageUrl | None = None


class RequestFunction(msgspec.Struct):
    name: str
    arguments: str = "{}"


class RequestToolCall(msgspec.Struct):
    id: str
    function: RequestFunction
    type: str = "function"


class RequestMessage(msgspec.Struct):
    role: str
    content: str | list[ContentPart] | None = None
    name: str | None = None
    tool_calls: list[RequestToolCall] | None = None
    tool_call_id: str | None = None


class StreamOptions(msgspec.Struct):
    include_usage: bool = False


class ChatCompletionRequest(msgspec.Struct):
    messages: list[RequestMessage]
    model: str = ""
    stream: bool = False
    user: str | None = None
    stream_options: StreamOptions | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: str | list[str] | None = None
    seed: int | None = None
    n: int | None = None
    tools: list[msgspec.Raw] | None = None
    functions: list[msgspec.Raw] | None = None


_ROLES = ("system", "developer", "user", "assistant", "tool")


def agent_for_model(model: str, settings: HttpSettings, header_agent: str | None = None) -> str:
    if header_agent:
        if header_agent not in settings.agent_ids:
            raise HttpError(404, f"unknown agent '{header_agent}'", code="agent_not_found",
                            param="x-rustyclaw-agent-id")
        return header_agent
    for prefix in _AGENT_PREFIXES:
        if model.startswith(prefix):
            agent = model[len(prefix) :]
            if agent not in settings.agent_ids:
                raise HttpError(404, f"the model '{model}' does not exist", code="model_not_found",
                                param="model")
            return agent
    return model if model in settings.agent_ids else settings.default_agent


def new_input(request: ChatCompletionRequest, max_chars: int) -> tuple[str, tuple[Attachment, ...]]:
    """The text and images of the last user message; text parts are joined with newlines."""
    for index in range(len(request.messages) - 1, -1, -1):
        message = request.messages[index]
        if message.role == "user":
            return _content_of(message.content, f"messages[{index}].content", max_chars)
    raise HttpError(400, "messages must contain a message with role 'user'", param="messages")


def _content_of(
    content: str | list[ContentPart] | None, field: str, max_chars: int
) -> tuple[str, tuple[Attachment, ...]]:
    if content is None:
        raise HttpError(400, f"{field} is empty", code="empty_message", param=field)
    if isinstance(content, str):
        return checked_text(content, max_chars, field), ()
    texts: list[str] = []
    images: list[Attachment] = []
    for number, part in enumerate(content):
        if part.type == "text" and part.text is not None:
            texts.append(part.text)
        elif part.type == "image_url" and part.image_url is not None:
            images.append(Attachment(kind="image", url=part.image_url.url))
        else:
            raise HttpError(
                400,
                f"content part of type '{part.type}' is not supported (text and image_url are)",
                param=f"{field}[{number}]",
            )
    text = "\n".join(texts)
    if images and not text:
        return text, tuple(images)
    return checked_text(text, max_chars, field), tuple(images)


def _plain_text(content: str | list[ContentPart] | None) -> str:
    """Text of a history message; image parts of earlier messages are not resent to the model."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "\n".join(part.text for part in content if part.type == "text" and part.text is not None)


def turn_options(request: ChatCompletionRequest, stateless: bool, max_chars: int) -> TurnOptions:
    """The request's own settings for the turn; refuses what the gateway cannot honour (400)."""
    if request.tools or request.functions:
        raise HttpError(
            400,
            "client-side tools are not supported: the agent runs its own tools (configure them under "
            "tools: in config.yaml); remove 'tools' from the request",
            code="tools_not_supported", param="tools",
        )
    if request.n is not None and request.n != 1:
        raise HttpError(400, "only n=1 is supported", code="unsupported_value", param="n")
    max_tokens = request.max_completion_tokens if request.max_completion_tokens is not None else request.max_tokens
    field = "max_completion_tokens" if request.max_completion_tokens is not None else "max_tokens"
    if max_tokens is not None and max_tokens < 1:
        raise HttpError(400, f"{field} must be at least 1", code="invalid_value", param=field)
    if request.temperature is not None and not 0 <= request.temperature <= 2:
        raise HttpError(400, "temperature must be between 0 and 2", code="invalid_value", param="temperature")
    if request.top_p is not None and not 0 <= request.top_p <= 1:
        raise HttpError(400, "top_p must be between 0 and 1", code="invalid_value", param="top_p")
    stop = (request.stop,) if isinstance(request.stop, str) else tuple(request.stop or ())
    if len(stop) > MAX_STOP_SEQUENCES:
        raise HttpError(400, f"stop takes at most {MAX_STOP_SEQUENCES} sequences", code="invalid_value",
                        param="stop")
    system: list[str] = []
    history: list[ChatMessage] = []
    for index, message in enumerate(request.messages):
        if message.role not in _ROLES:
            raise HttpError(400, f"messages[{index}].role '{message.role}' is not one of {', '.join(_ROLES)}",
                            code="invalid_value", param=f"messages[{index}].role")
        if message.role in ("system", "developer"):
            text = _plain_text(message.content)
            if len(text) > max_chars:
                raise HttpError(413, f"messages[{index}].content is longer than {max_chars} characters",
                                code="message_too_long", param=f"messages[{index}].content")
            if text.strip():
                system.append(text)
        elif stateless:
            history.append(_history_message(message))
    return TurnOptions(
        max_tokens=max_tokens, temperature=request.temperature, top_p=request.top_p, stop=stop,
        seed=request.seed, system="\n\n".join(system), history=tuple(history) if stateless else None,
    )


def _history_message(message: RequestMessage) -> ChatMessage:
    calls = tuple(
        ToolCall(id=call.id, name=call.function.name, arguments=call.function.arguments)
        for call in message.tool_calls or ()
    )
    role: Role = "user" if message.role == "user" else "assistant" if message.role == "assistant" else "tool"
    return ChatMessage(role=role, content=_plain_text(message.content), tool_calls=calls,
                       tool_call_id=message.tool_call_id, name=message.name)


def _usage(reply: Reply) -> dict[str, int]:
    usage = reply.usage
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }


def _header_text(scope: Scope, names: tuple[bytes, ...]) -> str | None:
    for name in names:
        value = header(scope, name)
        if value is not None and value.strip():
            return value.decode("latin-1").strip()
    return None


def _model_object(agent: str) -> dict[str, Any]:
    return {"id": MODEL_PREFIX + agent, "object": "model", "created": 0, "owned_by": "rustyclaw"}


class OpenAIApi:
    """Handlers of the OpenAI-compatible routes (mounted only when `openai_enabled`)."""

    def __init__(self, gateway: GatewayService, settings: HttpSettings,
                 idempotent: IdempotentTurns | None = None) -> None:
        self._gateway = gateway
        self._settings = settings
        # The inbound journal for keyed requests; None without one (delivery.journal: false).
        self._idempotent = idempotent

    async def models(self, scope: Scope, receive: Receive, send: Send) -> None:
        check_bearer(scope, self._settings.auth_token)
        models = [_model_object(agent) for agent in self._settings.agent_ids]
        await send_json(send, 200, {"object": "list", "data": models})

    async def model(self, scope: Scope, receive: Receive, send: Send) -> None:
        """`GET /v1/models/{id}` (the SDK's `models.retrieve`); the id may contain a slash."""
        check_bearer(scope, self._settings.auth_token)
        wanted = scope["path"][len("/v1/models/") :]
        for agent in self._settings.agent_ids:
            if wanted in (MODEL_PREFIX + agent, agent):
                await send_json(send, 200, _model_object(agent))
                return
        raise HttpError(404, f"the model '{wanted}' does not exist", code="model_not_found", param="model")

    async def chat_completions(self, scope: Scope, receive: Receive, send: Send) -> None:
        settings = self._settings
        check_bearer(scope, settings.auth_token)
        request = decode_json(await read_body(scope, receive, settings.max_body_bytes), ChatCompletionRequest)
        key = request_key(scope)
        text, attachments = new_input(request, settings.max_message_chars)
        agent = agent_for_model(request.model, settings, _header_text(scope, AGENT_HEADERS))
        user = checked_session_id(request.user or _header_text(scope, SESSION_HEADERS), "user")
        options = turn_options(request, user is None, settings.max_message_chars)
        peer = user or "anonymous"
        message = InboundMessage(
            channel=settings.channel,
            peer_id=peer,
            sender_id=peer,
            text=text,
            attachments=attachments,
            chat_kind="direct",
            session_hint=user,
            agent_hint=agent,
            received_at=time.time(),
            options=options,
        )
        if key is not None:
            message = keyed(message, key)
        completion = _Completion(MODEL_PREFIX + agent)
        if request.stream:
            include_usage = request.stream_options is not None and request.stream_options.include_usage
            if key is not None and self._idempotent is not None:
                await self._stream_keyed(self._idempotent, message, completion, include_usage, receive, send)
            else:
                await self._stream(message, completion, include_usage, receive, send)
            return

        async def turn(message: InboundMessage) -> bytes:
            reply = await HttpTurn(self._gateway, receive).run(message)
            if reply is None:
                raise dropped()
            if reply.error is not None:
                raise HttpError(502, reply.error, type="server_error", code="turn_failed")
            return encode_json(completion.whole(reply))

        if key is None or self._idempotent is None:
            await send_bytes(send, 200, await turn(message), JSON_TYPE[1])
            return
        answer = await self._idempotent.answer(message, turn)
        await send_bytes(send, 200, answer.body, JSON_TYPE[1], (REPLAYED,) if answer.replayed else ())

    async def _stream(
        self,
        message: InboundMessage,
        completion: _Completion,
        include_usage: bool,
        receive: Receive,
        send: Send,
    ) -> None:
        writer = sse.SseWriter(send)
        if not await writer.start() or not await writer.write(
            completion.chunk({"role": "assistant", "content": ""})
        ):
            return
        turn = HttpTurn(self._gateway, receive)
        emit = _StreamEmitter(writer, completion, turn)

        try:
            reply = await turn.run(message, emit)
        except ClientGone:
            return
        except HttpError as error:
            await writer.write(sse.data_event(encode_json(error.body())))
            await writer.close(sse.DONE)
            return
        except Exception:
            log.exception("the gateway failed during a stream")
            await writer.write(sse.data_event(encode_json(internal_error().body())))
            await writer.close(sse.DONE)
            return
        if reply is None:
            await writer.write(sse.data_event(encode_json(dropped().body())))
        elif reply.error is not None:
            failed = HttpError(502, reply.error, type="server_error", code="turn_failed")
            await writer.write(sse.data_event(encode_json(failed.body())))
        else:
            if not emit.streamed and reply.text:
                await writer.write(completion.chunk({"content": reply.text}))
            await writer.write(completion.chunk({}, finish_reason=reply.finish_reason))
            if include_usage:
                await writer.write(completion.usage_chunk(reply))
        await writer.close(sse.DONE)


    async def _stream_keyed(
        self,
        idempotent: IdempotentTurns,
        message: InboundMessage,
        completion: _Completion,
        include_usage: bool,
        receive: Receive,
        send: Send,
    ) -> None:
        """A streaming request with an Idempotency-Key. The journal keeps the whole completion (the
        non-streaming shape); a replay sends it as one content chunk. The stream starts only once
        the request is known to run, so a reused key is still a plain 422."""
        writer = sse.SseWriter(send)
        turn = HttpTurn(self._gateway, receive)
        emit = _StreamEmitter(writer, completion, turn)

        async def run(message: InboundMessage) -> bytes:
            if not await writer.start() or not await writer.write(
                completion.chunk({"role": "assistant", "content": ""})
            ):
                raise ClientGone
            reply = await turn.run(message, emit)
            if reply is None:
                raise dropped()
            if reply.error is not None:
                raise HttpError(502, reply.error, type="server_error", code="turn_failed")
            return encode_json(completion.whole(reply))

        try:
            answer = await idempotent.answer(message, run)
        except ClientGone:
            return
        except HttpError as error:
            if not writer.open:
                raise  # before the stream: an ordinary error response (422, 400, ...)
            await writer.write(sse.data_event(encode_json(error.body())))
            await writer.close(sse.DONE)
            return
        whole = msgspec.json.decode(answer.body, type=_Whole)
        if not writer.open:
            # A replay from the journal: the kept completion's id and created name the same completion.
            # (Had this attempt streamed its own turn while another's answer was kept first, its
            # caller has that text already; the stream just ends.)
            completion.id, completion.created = whole.id, whole.created
            started = await writer.start([REPLAYED])
            if not started or not await writer.write(completion.chunk({"role": "assistant", "content": ""})):
                return
        choice = whole.choices[0]
        if not emit.streamed and choice.message.content:
            await writer.write(completion.chunk({"content": choice.message.content}))
        await writer.write(completion.chunk({}, finish_reason=choice.finish_reason))
        if include_usage:
            await writer.write(completion.usage_chunk_of(whole.usage))
        await writer.close(sse.DONE)


class _StreamEmitter:
    """A turn's events as SSE: text deltas as completion chunks, tool activity as comments.

    `streamed` says whether any text went out, so the caller sends the reply whole if none did.
    """

    def __init__(self, writer: sse.SseWriter, completion: _Completion, turn: HttpTurn) -> None:
        self._writer = writer
        self._completion = completion
        self._turn = turn
        self.streamed = False

    async def __call__(self, event: TurnEvent) -> None:
        if isinstance(event, ReplyDelta) and event.text:
            self.streamed = True
            ok = await self._writer.write(self._completion.chunk({"content": event.text}))
        elif isinstance(event, ToolActivity):
            # A comment keeps proxies from timing out during long tool runs; clients skip it.
            ok = await self._writer.write(sse.comment(f"tool {event.name} {event.status}"))
        else:
            return
        if not ok:
            await self._turn.client_gone()


class _WholeMessage(msgspec.Struct):
    content: str = ""


class _WholeChoice(msgspec.Struct):
    message: _WholeMessage
    finish_reason: str = "stop"


class _WholeUsage(msgspec.Struct):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


class _Whole(msgspec.Struct):
    """A kept `chat.completion` body, read back to replay it as a stream."""

    id: str
    created: int
    choices: list[_WholeChoice]
    usage: _WholeUsage


class _Completion:
    """The fields every object of one completion shares (id, created, model)."""

    def __init__(self, model: str) -> None:
        self.id = "chatcmpl-" + os.urandom(12).hex()
        self.created = int(time.time())
        self.model = model

    def whole(self, reply: Reply) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": reply.text},
                    "logprobs": None,
                    "finish_reason": reply.finish_reason,
                }
            ],
            "usage": _usage(reply),
        }

    def chunk(self, delta: dict[str, str], finish_reason: str | None = None) -> bytes:
        body = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
        }
        event: bytes = sse.data_event(encode_json(body))
        return event

    def usage_chunk(self, reply: Reply) -> bytes:
        return self._usage_chunk(_usage(reply))

    def usage_chunk_of(self, usage: _WholeUsage) -> bytes:
        return self._usage_chunk({"prompt_tokens": usage.prompt_tokens,
                                  "completion_tokens": usage.completion_tokens, "total_tokens": usage.total_tokens})

    def _usage_chunk(self, usage: dict[str, int]) -> bytes:
        body = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [],
            "usage": usage,
        }
        event: bytes = sse.data_event(encode_json(body))
        return event
