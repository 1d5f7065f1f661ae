"""Builds a Gateway from fakes and the in-memory store, for the domain's unit tests."""

from __future__ import annotations

from dataclasses import dataclass

from rustyclaw.adapters.storage.memory import MemoryStore
from rustyclaw.domain.agent import AgentRunner
from rustyclaw.domain.builtin_tools import SessionStatusTool
from rustyclaw.domain.context import ContextBuilder
from rustyclaw.domain.gateway import AccessGate, Gateway
from rustyclaw.domain.messages import InboundMessage
from rustyclaw.domain.prompt import PromptBuilder
from rustyclaw.domain.sessions import SessionService
from rustyclaw.domain.settings import AgentSettings, SessionSettings
from rustyclaw.domain.tools import ToolPolicy, ToolRegistry

from .fakes import DictWorkspace, FakeClock, ScriptedLLM, Step, WordTokenizer


@dataclass
class Kit:
    gateway: Gateway
    llm: ScriptedLLM
    store: MemoryStore
    clock: FakeClock
    tools: ToolRegistry


async def make_gateway(
    steps: list[Step] | None = None,
    *,
    session_settings: SessionSettings | None = None,
    agent_settings: AgentSettings | None = None,
    policy: ToolPolicy | None = None,
    access: AccessGate | None = None,
) -> Kit:
    store = MemoryStore()
    await store.start()
    clock = FakeClock()
    llm = ScriptedLLM(steps)
    settings = agent_settings or AgentSettings(context_tokens=4000, max_completion_tokens=200)
    sessions = SessionService(store, clock, session_settings or SessionSettings())
    tools = ToolRegistry(policy=policy)
    tools.register(SessionStatusTool(store, lambda entry: entry.model or llm.model))
    runner = AgentRunner(
        llm, tools, ContextBuilder(WordTokenizer(), settings.pruning), clock,
        context_tokens=settings.context_tokens, max_completion_tokens=settings.max_completion_tokens,
        max_iterations=settings.max_tool_iterations,
    )
    gateway = Gateway(sessions, runner, PromptBuilder(DictWorkspace({})), llm, clock, settings, access)
    return Kit(gateway, llm, store, clock, tools)


def inbound(text: str, **kw: object) -> InboundMessage:
    base: dict[str, object] = {"channel": "web", "peer_id": "u1", "sender_id": "u1", "text": text}
    base.update(kw)
    return InboundMessage(**base)  # type: ignore[arg-type]
