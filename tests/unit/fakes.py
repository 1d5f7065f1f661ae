"""Test doubles for the domain's ports (unit tests only)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import anyio

from rustyclaw.domain.messages import ChatMessage, ToolCall, Usage
from rustyclaw.ports.llm import LLMRequest, LLMResult, TextDelta


class FakeClock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.t = now

    def now(self) -> float:
        return self.t

    def monotonic(self) -> float:
        return self.t


class WordTokenizer:
    """One token per whitespace-separated word: easy to reason about in assertions."""

    name = "words"

    def count(self, text: str) -> int:
        return len(text.split())


class DictWorkspace:
    def __init__(self, files: dict[str, str]) -> None:
        self.files = files
        self.reads: list[str] = []

    def read_text(self, agent_id: str, name: str, limit: int) -> str | None:
        self.reads.append(name)
        text = self.files.get(name)
        return None if text is None else text[:limit]


@dataclass
class Step:
    """One scripted model answer: text, tool calls, an exception to raise, or a hang."""

    text: str = ""
    calls: list[ToolCall] = field(default_factory=list)
    error: Exception | None = None
    hang: bool = False


class ScriptedLLM:
    def __init__(self, steps: list[Step] | None = None, model: str = "fake/model") -> None:
        self.steps = list(steps or [])
        self.requests: list[LLMRequest] = []
        self.model = model
        self.started = anyio.Event()

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        return None

    def model_for(self, task: str) -> str:
        return self.model

    def known_models(self) -> list[str]:
        return [self.model, "fake/other"]

    async def stream(self, request: LLMRequest) -> AsyncIterator[TextDelta | LLMResult]:
        self.requests.append(request)
        step = self.steps.pop(0) if self.steps else Step(text="ok")
        self.started.set()
        if step.error is not None:
            raise step.error
        if step.hang:
            await anyio.sleep_forever()
        for word in step.text.split(" "):
            yield TextDelta(word + " ")
        yield LLMResult(
            message=ChatMessage(role="assistant", content=step.text, tool_calls=tuple(step.calls)),
            finish_reason="tool_calls" if step.calls else "stop",
            usage=Usage(prompt_tokens=10, completion_tokens=len(step.text.split())),
            model=request.model or self.model,
        )

    async def complete(self, request: LLMRequest) -> LLMResult:
        result = None
        async for item in self.stream(request):
            if isinstance(item, LLMResult):
                result = item
        assert result is not None
        return result
