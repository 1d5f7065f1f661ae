"""The language model: OpenAI-compatible chat completions, streamed, with tool calls."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Protocol

import msgspec

from rustyclaw.domain.messages import Attachment, ChatMessage, Usage


class ToolSpec(msgspec.Struct, frozen=True, kw_only=True):
    """A function the model may call; `parameters` is a JSON Schema object."""

    name: str
    description: str
    parameters: dict[str, Any] = msgspec.field(default_factory=lambda: {"type": "object", "properties": {}})


class LLMRequest(msgspec.Struct, frozen=True, kw_only=True):
    """`task` picks a route from config (default, code, fast, ...); `model` overrides it.

    `agent` names the agent the request is for: its own `agents.list[].routes` come before
    `llm.routes`. `images` belong to the last user message; they go out as OpenAI content parts
    (a vision route's model sees them) and are never stored with the message.
    """

    messages: list[ChatMessage]
    tools: tuple[ToolSpec, ...] = ()
    task: str = "default"
    model: str | None = None
    agent: str | None = None
    images: tuple[Attachment, ...] = ()
    temperature: float | None = None
    max_tokens: int | None = None
    top_p: float | None = None
    stop: tuple[str, ...] = ()
    seed: int | None = None
    tool_choice: str | dict[str, Any] | None = None


class TextDelta(msgspec.Struct, frozen=True):
    text: str


class LLMResult(msgspec.Struct, frozen=True, kw_only=True):
    """The whole answer: an assistant message (text and/or tool calls) and how it ended."""

    message: ChatMessage
    finish_reason: str
    usage: Usage
    model: str
    provider: str = ""


class LLMClient(Protocol):
    """Streams one completion; the last item of `stream` is always the `LLMResult`.

    Implementations retry 429/5xx/connection failures with backoff and move along the route's
    fallback chain before the first delta is yielded; after that, a failure raises an LLMError.
    """

    async def start(self) -> None: ...

    async def aclose(self) -> None: ...

    def stream(self, request: LLMRequest) -> AsyncIterator[TextDelta | LLMResult]: ...

    async def complete(self, request: LLMRequest) -> LLMResult: ...

    def model_for(self, task: str) -> str:
        """The model reference (`provider/model`) a task would use first."""
        ...

    def known_models(self) -> list[str]: ...
