"""The gateway with context maintenance: too-long messages, /compact, auto-compaction, overflow retry."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from rustyclaw.adapters.storage.memory import MemoryStore
from rustyclaw.domain.agent import AgentRunner
from rustyclaw.domain.compaction import (
    COMPACTION_META,
    EXCLUDED_META,
    SUMMARY_SYSTEM,
    CompactionSettings,
    MemoryFlushSettings,
)
from rustyclaw.domain.compactor import Compactor
from rustyclaw.domain.context import ContextBuilder
from rustyclaw.domain.errors import ContextOverflowError
from rustyclaw.domain.events import Reply
from rustyclaw.domain.gateway import Gateway
from rustyclaw.domain.maintenance import ContextMaintenance, ContextWindows
from rustyclaw.domain.prompt import PromptBuilder
from rustyclaw.domain.sessions import SessionService
from rustyclaw.domain.settings import AgentSettings, SessionSettings
from rustyclaw.domain.tools import ToolRegistry
from rustyclaw.ports.llm import LLMRequest, LLMResult, TextDelta

from .fakes import DictWorkspace, FakeClock, ScriptedLLM, Step, WordTokenizer
from .gateway_kit import inbound

pytestmark = pytest.mark.anyio

KEY = "agent:main:main"


class SummarisingLLM(ScriptedLLM):
    """Answers summary requests from `summaries` (the last one repeats), the chat from its steps."""

    summaries: list[str]

    async def stream(self, request: LLMRequest) -> AsyncIterator[TextDelta | LLMResult]:
        if request.messages[0].content == SUMMARY_SYSTEM and getattr(self, "summaries", None):
            text = self.summaries.pop(0) if len(self.summaries) > 1 else self.summaries[0]
            self.steps.insert(0, Step(text=text))
        async for item in super().stream(request):
            yield item


@dataclass
class Kit:
    gateway: Gateway
    llm: SummarisingLLM
    store: MemoryStore


async def make(steps: list[Step], *, window: int = 600, workspace: dict[str, str] | None = None) -> Kit:
    store = MemoryStore()
    await store.start()
    clock = FakeClock()
    llm = SummarisingLLM(steps)
    settings = AgentSettings(context_tokens=window, max_completion_tokens=100)
    sessions = SessionService(store, clock, SessionSettings())
    context = ContextBuilder(WordTokenizer(), settings.pruning)
    runner = AgentRunner(llm, ToolRegistry(), context, clock, context_tokens=window,
                         max_completion_tokens=100, max_iterations=4)
    compaction = CompactionSettings(reserve_tokens=0, reserve_tokens_floor=0, keep_recent_tokens=80,
                                    memory_flush=MemoryFlushSettings(enabled=False))
    maintenance = ContextMaintenance(sessions, Compactor(llm, context, compaction), context,
                                     ContextWindows(None, window, clock), clock, runner.stamp)
    prompts = PromptBuilder(DictWorkspace(workspace or {}), memory_main_key="main")
    gateway = Gateway(sessions, runner, prompts, llm, clock, settings, maintenance=maintenance)
    return Kit(gateway, llm, store)


async def say(kit: Kit, text: str, **kw: object) -> Reply:
    reply = await kit.gateway.handle(inbound(text, **kw))
    assert reply is not None
    return reply


async def stored(kit: Kit) -> list[str]:
    entry = await kit.store.get_session(KEY)
    assert entry is not None
    return [m.content for m in await kit.store.load_messages(entry)]


async def test_a_message_too_long_for_the_window_is_refused_and_the_session_goes_on() -> None:
    kit = await make([Step(text="fine")])
    reply = await say(kit, "word " * 700)
    assert reply.finish_reason == "too_long" and "too long" in reply.text and "600" in reply.text
    assert kit.llm.requests == []  # never sent
    entry = await kit.store.get_session(KEY)
    assert entry is not None
    (kept,) = await kit.store.load_messages(entry)
    assert kept.meta[EXCLUDED_META] == "too_long"  # stored, kept out of context
    again = await say(kit, "hello")
    assert again.text == "fine"
    assert [m.content for m in kit.llm.requests[0].messages if m.role != "system"] == ["hello"]


async def test_long_session_compacts_automatically_and_keeps_every_message() -> None:
    # ~72 tokens a turn: the sixth question takes the context past the 400-token window's threshold.
    steps = [Step(text=f"answer {i} " + "x " * 30) for i in range(6)]
    kit = await make([*steps, Step(text="after compaction")], window=400)
    kit.llm.summaries = ["SUMMARY of the early turns"]
    for i in range(6):
        reply = await say(kit, f"question {i} " + "y " * 30)
        assert reply.text.startswith(f"answer {i}")
    reply = await say(kit, "and now?")
    assert reply.text == "after compaction"
    last = kit.llm.requests[-1]
    assert "SUMMARY of the early turns" in last.messages[0].content  # the summary is in the system prompt
    assert len(last.messages) < 14
    contents = await stored(kit)
    assert len(contents) == 6 * 2 + 1 + 1 + 1  # every message, the compaction entry, the new turn
    entry = await kit.store.get_session(KEY)
    assert entry is not None and entry.compaction_count == 1
    status = await say(kit, "/status")
    assert "Compactions: 1" in status.text


async def test_compact_command_and_a_failed_summary_keep_history() -> None:
    kit = await make([Step(text="a1"), Step(text="a2"), Step(text="a3"),
                      Step(error=ContextOverflowError("nope")), Step(text="focused summary")])
    for text in ("one " * 40, "two " * 40, "three"):
        await say(kit, text)
    failed = await say(kit, "/compact")
    assert failed.command == "compact" and "did not happen" in failed.text and "nothing was removed" in failed.text
    assert len(await stored(kit)) == 6
    done = await say(kit, "/compact the numbers")
    # keepRecentTokens 80 keeps "two ..." onwards (59 tokens); the first turn is summarised.
    assert done.text.startswith("Compacted 2 older messages")
    assert "Focus of this summary (from the user): the numbers" in kit.llm.requests[-1].messages[1].content
    entry = await kit.store.get_session(KEY)
    assert entry is not None
    messages = await kit.store.load_messages(entry)
    assert len(messages) == 7 and messages[-1].meta[COMPACTION_META]["firstKeptEntryId"] == messages[2].id


async def test_overflow_from_the_server_teaches_the_window_and_retries_once() -> None:
    kit = await make([Step(text="a1"), Step(text="a2"),
                      Step(error=ContextOverflowError("too long", reported=700, window=300)),
                      Step(text="S"), Step(text="answered")])
    await say(kit, "first " * 60)
    await say(kit, "second " * 60)
    reply = await say(kit, "third " * 20)
    assert reply.text == "answered"
    status = await say(kit, "/status")
    assert "of 300" in status.text  # the server's window is used from now on


async def test_a_message_found_too_long_by_the_server_is_excluded_from_then_on() -> None:
    kit = await make([Step(error=ContextOverflowError("too long", reported=900, window=300)), Step(text="ok")])
    refused = await say(kit, "long " * 200)  # fits the configured 600, not the server's 300
    assert refused.finish_reason == "error" and refused.error is not None and "too long" in refused.error
    assert "300" in refused.error
    reply = await say(kit, "short one")
    assert reply.text == "ok"
    assert [m.content for m in kit.llm.requests[-1].messages if m.role != "system"] == ["short one"]
    contents = await stored(kit)
    assert contents[0] == "long " * 200 and len(contents) == 4  # the paste, its exclusion entry, the turn


async def test_memory_md_only_in_the_main_session() -> None:
    kit = await make([Step(text="ok"), Step(text="ok")], workspace={"MEMORY.md": "secret fact"})
    await say(kit, "hi")
    assert "## MEMORY.md\nsecret fact" in kit.llm.requests[0].messages[0].content
    await say(kit, "hi", chat_kind="group", peer_id="g1")
    assert "secret fact" not in kit.llm.requests[1].messages[0].content
