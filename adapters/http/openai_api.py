"""The OpenAI-compatible endpoint: `POST /v1/chat/completions` and `GET /v1/models`.

The gateway keeps the conversation, so only the LAST user message of `messages` is new input; the
rest of the client's history is ignored. `model` names an agent (`rustyclaw/<agentId>` or
`<agentId>`; any other name goes to the default agent; `rustyclaw/<unknown>` is a 404) and `user`
picks the session (it becomes the peer and the session hint; without it every caller shares the
peer `anonymous`). Client-side `tools` and sampling options are accepted and ignored: the gateway's
own agent decides.

Failures: before any output, an OpenAI-shaped error with a status (a Reply whose `error` is set is a
502 carrying that text). Once a stream has started, the failure is sent the way OpenAI itself does
it, as an SSE event `data: {"error": {...}}` followed by `data: [DONE]`; OpenAI's client libraries
raise an API error on that event, so a failed turn never looks like a normal answer.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

import msgspec

from rustyclaw.adapters.http import sse
from rustyclaw.adapters.http.asgi import (
    ClientGone,
    HttpError,
    Receive,
    Scope,
    Send,
    encode_json,
    internal_error,
    read_body,
    send_json,
)
from rustyclaw.adapters.http.auth import check_bearer
from rustyclaw.adapters.http.settings import HttpSettings
from rustyclaw.adapters.http.turns import HttpTurn, dropped
from rustyclaw.adapters.http.validation import checked_session_id, checked_text, decode_json
from rustyclaw.domain.events import Reply, ReplyDelta, ToolActivity, TurnEvent
from rustyclaw.domain.messages import Attachment, InboundMessage
from rustyclaw.ports.gateway import GatewayService

log = logging.getLogger(__name__)

MODEL_PREFIX = "rustyclaw/"


class ImageUrl(msgspec.Struct):
    url: str


class ContentPart(msgspec.Struct):
    type: str
    text: str | None = None
    image_url: ImageUrl | None = None


class RequestMessage(msgspec.Struct):
    role: str
    content: str | list[ContentPart] | None = None


class StreamOptions(msgspec.Struct):
    include_usage: bool = False


class ChatCompletionRequest(msgspec.Struct):
    messages: list[RequestMessage]
    model: str = ""
    stream: bool = False
    user: str | None = None
    stream_options: StreamOptions | None = None


def agent_for_model(model: str, settings: HttpSettings) -> str:
    if model.startswith(MODEL_PREFIX):
        agent = model[len(MODEL_PREFIX) :]
        if agent not in settings.agent_ids:
            raise HttpError(404, f"the model '{model}' does not exist", code="model_not_found", param="model")
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


def _usage(reply: Reply) -> dict[str, int]:
    usage = reply.usage
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }


class OpenAIApi:
    """Handlers of the OpenAI-compatible routes (mounted only when `openai_enabled`)."""

    def __init__(self, gateway: GatewayService, settings: HttpSettings) -> None:
        self._gateway = gateway
        self._settings = settings

    async def models(self, scope: Scope, receive: Receive, send: Send) -> None:
        check_bearer(scope, self._settings.auth_token)
        models = [
            {"id": MODEL_PREFIX + agent, "object": "model", "created": 0, "owned_by": "rustyclaw"}
            for agent in self._settings.agent_ids
        ]
        await send_json(send, 200, {"object": "list", "data": models})

    async def chat_completions(self, scope: Scope, receive: Receive, send: Send) -> None:
        settings = self._settings
        check_bearer(scope, settings.auth_token)
        request = decode_json(await read_body(scope, receive, settings.max_body_bytes), ChatCompletionRequest)
        text, attachments = new_input(request, settings.max_message_chars)
        agent = agent_for_model(request.model, settings)
        user = checked_session_id(request.user, "user")
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
        )
        completion = _Completion(MODEL_PREFIX + agent)
        if request.stream:
            include_usage = request.stream_options is not None and request.stream_options.include_usage
            await self._stream(message, completion, include_usage, receive, send)
            return
        reply = await HttpTurn(self._gateway, receive).run(message)
        if reply is None:
            raise dropped()
        if reply.error is not None:
            raise HttpError(502, reply.error, type="server_error", code="turn_failed")
        await send_json(send, 200, completion.whole(reply))

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
        streamed = False

        async def emit(event: TurnEvent) -> None:
            nonlocal streamed
            if isinstance(event, ReplyDelta) and event.text:
                streamed = True
                ok = await writer.write(completion.chunk({"content": event.text}))
            elif isinstance(event, ToolActivity):
                # A comment keeps proxies from timing out during long tool runs; clients skip it.
                ok = await writer.write(sse.comment(f"tool {event.name} {event.status}"))
            else:
                return
            if not ok:
                await turn.client_gone()

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
            if not streamed and reply.text:
                await writer.write(completion.chunk({"content": reply.text}))
            await writer.write(completion.chunk({}, finish_reason=reply.finish_reason))
            if include_usage:
                await writer.write(completion.usage_chunk(reply))
        await writer.close(sse.DONE)


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
        body = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [],
            "usage": _usage(reply),
        }
        event: bytes = sse.data_event(encode_json(body))
        return event
