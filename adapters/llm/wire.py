"""The OpenAI chat-completions wire format: request bodies out, streamed chunks assembled back in."""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass, field
from typing import Any

import msgspec

from rustyclaw.domain.messages import Attachment, ChatMessage, ToolCall, Usage
from rustyclaw.ports.llm import LLMRequest, ToolSpec


def message_to_wire(message: ChatMessage) -> dict[str, Any]:
    """One message in OpenAI shape; `content` is always a plain string (llama.cpp templates need it)."""
    out: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.role == "assistant" and message.tool_calls:
        out["tool_calls"] = [
            {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}
            for call in message.tool_calls
        ]
        # OpenAI accepts null content next to tool calls; some templates choke on null, so keep "".
    elif message.role == "tool":
        out["tool_call_id"] = message.tool_call_id or ""
    if message.name and message.role in ("user", "tool"):
        out["name"] = message.name
    return out


def image_part(image: Attachment) -> dict[str, Any]:
    """An image as an OpenAI `image_url` content part: its bytes inline as a data URL (a channel's
    own media URL needs the bot's credentials, which the model server does not have)."""
    if image.data is not None:
        url = f"data:{image.mime};base64,{base64.b64encode(image.data).decode('ascii')}"
    else:
        url = image.url or ""
    return {"type": "image_url", "image_url": {"url": url}}


def with_images(messages: list[dict[str, Any]], images: tuple[Attachment, ...]) -> list[dict[str, Any]]:
    """The last user message's content as text and image parts; the others stay plain strings
    (llama.cpp templates of text models need strings)."""
    for wire in reversed(messages):
        if wire["role"] == "user":
            parts: list[dict[str, Any]] = [{"type": "text", "text": wire["content"]}] if wire["content"] else []
            wire["content"] = parts + [image_part(image) for image in images]
            break
    return messages


def tool_to_wire(tool: ToolSpec) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {"name": tool.name, "description": tool.description, "parameters": tool.parameters},
    }


def tool_choice_to_wire(choice: str | dict[str, Any]) -> str | dict[str, Any]:
    """Accepts "auto"/"none"/"required", a bare function name, or an OpenAI-shaped dict."""
    if isinstance(choice, dict) or choice in ("auto", "none", "required"):
        return choice
    return {"type": "function", "function": {"name": choice}}


def request_body(model: str, request: LLMRequest, *, stream: bool = True) -> dict[str, Any]:
    messages = [message_to_wire(m) for m in request.messages]
    body: dict[str, Any] = {
        "model": model,
        "messages": with_images(messages, request.images) if request.images else messages,
        "stream": stream,
    }
    if stream:
        body["stream_options"] = {"include_usage": True}
    if request.tools:
        body["tools"] = [tool_to_wire(t) for t in request.tools]
        if request.tool_choice is not None:
            body["tool_choice"] = tool_choice_to_wire(request.tool_choice)
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.max_tokens is not None:
        body["max_tokens"] = request.max_tokens
    if request.top_p is not None:
        body["top_p"] = request.top_p
    if request.stop:
        body["stop"] = list(request.stop)
    if request.seed is not None:
        body["seed"] = request.seed
    return body


def error_message(body: bytes, limit: int = 500) -> str:
    """The human part of an error body: OpenAI's error.message, FastAPI's detail, or the raw text."""
    try:
        data = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return body.decode("utf-8", "replace").strip()[:limit]
    if isinstance(data, dict):
        for key in ("error", "detail", "message"):
            value = data.get(key)
            if isinstance(value, dict) and isinstance(value.get("message"), str):
                return str(value["message"])[:limit]
            if isinstance(value, str):
                return value[:limit]
            if value is not None:
                return msgspec.json.encode(value).decode()[:limit]
    return body.decode("utf-8", "replace").strip()[:limit]


@dataclass(slots=True)
class _PartialCall:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


class ChunkError(Exception):
    """A chunk carried an `error` object instead of a completion delta."""


class StreamAssembler:
    """Collects streamed chunks into one assistant message, its finish reason and usage.

    Tool-call deltas are merged by `index`: the first id wins, names are set once (llama.cpp repeats
    the whole name in every delta, OpenAI sends it once), argument fragments are concatenated.
    """

    def __init__(self) -> None:
        self._text: list[str] = []
        self._calls: dict[int, _PartialCall] = {}
        self.finish_reason: str | None = None
        self.usage: Usage | None = None
        self.response_id: str | None = None
        self.server_model: str | None = None
        self.content_chunks = 0

    def add(self, chunk: dict[str, Any]) -> str:
        """Merges one decoded chunk; returns the text it added (may be empty)."""
        error = chunk.get("error")
        if error is not None:
            raise ChunkError(error.get("message", str(error)) if isinstance(error, dict) else str(error))
        if self.response_id is None and isinstance(chunk.get("id"), str):
            self.response_id = chunk["id"]
        if self.server_model is None and isinstance(chunk.get("model"), str):
            self.server_model = chunk["model"]
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            self.usage = Usage(
                prompt_tokens=int(usage.get("prompt_tokens") or 0),
                completion_tokens=int(usage.get("completion_tokens") or 0),
            )
        text = ""
        for choice in chunk.get("choices") or ():
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            content = delta.get("content")
            if isinstance(content, str) and content:
                text += content
            calls = delta.get("tool_calls")
            if calls:
                for position, call in enumerate(calls):
                    self._merge_call(call.get("index", position), call)
            elif isinstance(delta.get("function_call"), dict):  # the legacy single-function shape
                self._merge_call(0, {"function": delta["function_call"]})
            if calls or content:
                self.content_chunks += 1
            if choice.get("finish_reason"):
                self.finish_reason = str(choice["finish_reason"])
        if text:
            self._text.append(text)
        return text

    def add_completion(self, completion: dict[str, Any]) -> str:
        """Merges a whole (non-streamed) completion, as if it were one chunk."""
        choices = [{**c, "delta": c.get("message") or {}} for c in completion.get("choices") or ()]
        return self.add({**completion, "choices": choices})

    def _merge_call(self, index: int, call: dict[str, Any]) -> None:
        partial = self._calls.setdefault(index, _PartialCall())
        if not partial.id and call.get("id"):
            partial.id = str(call["id"])
        function = call.get("function") or {}
        name = function.get("name")
        if name and name != partial.name:
            partial.name = name if not partial.name else partial.name + name
        arguments = function.get("arguments")
        if arguments:
            partial.arguments.append(arguments)

    @property
    def text(self) -> str:
        return "".join(self._text)

    def message(self) -> ChatMessage:
        calls = tuple(
            ToolCall(
                id=partial.id or f"call_{index}_{uuid.uuid4().hex[:12]}",
                name=partial.name,
                arguments="".join(partial.arguments) or "{}",
            )
            for index, partial in sorted(self._calls.items())
        )
        return ChatMessage(role="assistant", content=self.text, tool_calls=calls)

    def final_usage(self) -> Usage:
        """The server's usage, or an estimate of the completion (one token per chunk) when it sent none.

        llama-cpp-python's server ignores `stream_options.include_usage`; its streams carry one token
        per chunk, so the chunk count is the completion's token count there and a close guess elsewhere.
        """
        if self.usage is not None:
            return self.usage
        return Usage(prompt_tokens=0, completion_tokens=self.content_chunks)
