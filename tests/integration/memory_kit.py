"""A gateway with memory and compaction from real parts (a store, FTS5, OpenAI-compatible servers).

Built like the composition root builds it (rustyclaw/memory_setup.py), on a clock the test moves
(days pass for daily notes; session resets are off so only /new starts a session).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from rustyclaw.adapters.llm.openai_compat import OpenAICompatProvider
from rustyclaw.adapters.llm.routing import RetryPolicy, Route, RoutedLLM
from rustyclaw.adapters.tokenizer import make_tokenizer
from rustyclaw.adapters.workspace.files import FolderWorkspace
from rustyclaw.domain.agent import AgentRunner
from rustyclaw.domain.compaction import CompactionSettings
from rustyclaw.domain.context import ContextBuilder
from rustyclaw.domain.events import Reply
from rustyclaw.domain.gateway import Gateway
from rustyclaw.domain.memory import MemorySettings
from rustyclaw.domain.messages import ChatMessage, InboundMessage
from rustyclaw.domain.prompt import PromptBuilder
from rustyclaw.domain.sessions import SessionService
from rustyclaw.domain.settings import AgentSettings, ResetPolicy, SessionSettings
from rustyclaw.domain.tools import ToolRegistry
from rustyclaw.memory_setup import MemorySetup
from rustyclaw.ports.model_info import ContextWindowProbe
from rustyclaw.ports.storage import StorageBackend

FAST_RETRY = RetryPolicy(attempts=2, initial_delay=0.01, max_delay=0.05, jitter=0.0)
KEY = "agent:main:main"


class MovableClock:
    """Wall time the test advances (days for daily notes); monotonic time is the real one."""

    def __init__(self, now: float) -> None:
        self.t = now

    def now(self) -> float:
        return self.t

    def monotonic(self) -> float:
        return time.monotonic()


@dataclass
class MemoryKit:
    gateway: Gateway
    store: StorageBackend
    memory: MemorySetup
    llm: RoutedLLM
    clock: MovableClock
    workspace: Path

    async def say(self, text: str) -> Reply:
        reply = await self.gateway.handle(InboundMessage(channel="web", peer_id="u1", sender_id="u1", text=text))
        assert reply is not None
        return reply

    async def transcript(self) -> list[ChatMessage]:
        entry = await self.store.get_session(KEY)
        assert entry is not None
        return await self.store.load_messages(entry)

    async def aclose(self) -> None:
        await self.memory.aclose()
        await self.llm.aclose()


async def build(
    tmp_path: Path,
    store: StorageBackend,
    base_url: str,
    *,
    model: str = "chat",
    window: int = 2000,
    max_completion: int = 200,
    compaction: CompactionSettings | None = None,
    memory: MemorySettings | None = None,
    probe: ContextWindowProbe | None = None,
    clock: MovableClock | None = None,
    retry: RetryPolicy = FAST_RETRY,
    provider: str = "mock",
    max_message_chars: int = 16_000,
) -> MemoryKit:
    """`store` must be started; the kit starts the memory index."""
    clock = clock or MovableClock(1_764_633_600.0)  # 2025-12-02 00:00 UTC
    llm = RoutedLLM({provider: OpenAICompatProvider(provider, base_url, timeout=600)},
                    {"default": Route(f"{provider}/{model}")}, retry)
    settings = AgentSettings(context_tokens=window, max_completion_tokens=max_completion,
                             max_message_chars=max_message_chars)
    sessions = SessionService(store, clock, SessionSettings(reset=ResetPolicy(mode="idle", idle_minutes=10**7)),
                              locks=store)
    workspace = FolderWorkspace(tmp_path / "workspace")
    setup = MemorySetup(tmp_path / "state", workspace.folder, store, store, memory or MemorySettings(),
                        compaction or CompactionSettings())
    await setup.start()
    tools = ToolRegistry(setup.tools)
    context = ContextBuilder(make_tokenizer("auto"), settings.pruning)
    runner = AgentRunner(llm, tools, context, clock, context_tokens=window,
                         max_completion_tokens=max_completion, max_iterations=4)
    maintenance = setup.maintenance(sessions, llm, context, clock, runner, probe, window)
    prompts = PromptBuilder(workspace, memory_main_key="main")
    gateway = Gateway(sessions, runner, prompts, llm, clock, settings, maintenance=maintenance)
    return MemoryKit(gateway, store, setup, llm, clock, tmp_path / "workspace")
