"""What the channel integration tests share: a stub model, a real Gateway around it, timing helpers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import anyio

from rustyclaw.adapters.channels.backoff import Backoff
from rustyclaw.adapters.clock import SystemClock
from rustyclaw.adapters.storage.memory import MemoryStore
from rustyclaw.domain.access import AccessController, ChannelAccess
from rustyclaw.domain.agent import AgentRunner
from rustyclaw.domain.context import ContextBuilder
from rustyclaw.domain.gateway import Gateway
from rustyclaw.domain.messages import ChatMessage, Usage
from rustyclaw.domain.pairing import PairingService
from rustyclaw.domain.prompt import PromptBuilder
from rustyclaw.domain.sessions import SessionService
from rustyclaw.domain.settings import AgentSettings, PruningSettings, SessionSettings
from rustyclaw.domain.tools import ToolRegistry
from rustyclaw.ports.llm import LLMRequest, LLMResult, TextDelta
from rustyclaw.ports.voice import VoiceNotes

OPEN = ChannelAccess(dm_policy="open", allow_from=("*",), group_policy="open")


class ReplyLLM:
    """A stub LLMClient (the model is not under test here): answers "echo: <the user's last
    message>", or `reply` when it is set, and keeps what the user said."""

    model = "stub/reply"

    def __init__(self, reply: str | None = None) -> None:
        self.turns = 0
        self.seen: list[str] = []
        self.reply = reply

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        return None

    def model_for(self, task: str) -> str:
        return self.model

    def known_models(self) -> list[str]:
        return [self.model]

    async def stream(self, request: LLMRequest) -> AsyncIterator[TextDelta | LLMResult]:
        self.turns += 1
        last = next(m.content for m in reversed(request.messages) if m.role == "user")
        self.seen.append(last)
        text = self.reply if self.reply is not None else f"echo: {last}"
        yield TextDelta(text)
        yield LLMResult(message=ChatMessage(role="assistant", content=text), finish_reason="stop",
                        usage=Usage(prompt_tokens=1, completion_tokens=1), model=self.model)

    async def complete(self, request: LLMRequest) -> LLMResult:
        async for item in self.stream(request):
            if isinstance(item, LLMResult):
                return item
        raise AssertionError("no result")


class CharTokenizer:
    name = "chars"

    def count(self, text: str) -> int:
        return len(text) // 4 + 1


async def build_gateway(
    llm: ReplyLLM, access: Mapping[str, ChannelAccess], pairing: PairingService | None = None,
    *, voice: VoiceNotes | None = None,
) -> Gateway:
    """A real Gateway (MemoryStore, per-channel-peer DMs) with the stub model and real access control."""
    clock = SystemClock()
    store = MemoryStore()
    await store.start()
    sessions = SessionService(store, clock, SessionSettings(dm_scope="per-channel-peer"))
    runner = AgentRunner(llm, ToolRegistry(), ContextBuilder(CharTokenizer(), PruningSettings()), clock,
                         context_tokens=8000, max_completion_tokens=200, max_iterations=2)
    return Gateway(sessions, runner, PromptBuilder(None), llm, clock,
                   AgentSettings(context_tokens=8000, max_completion_tokens=200),
                   AccessController(access, clock, pairing), voice=voice)


def fast_backoff() -> Backoff:
    return Backoff(initial=0.05, cap=0.2)


async def until(predicate: Callable[[], Any], within: float = 15.0) -> None:
    with anyio.fail_after(within):
        while not predicate():  # noqa: ASYNC110 - supervisor status has no change event
            await anyio.sleep(0.02)
