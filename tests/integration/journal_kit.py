"""What the at-least-once tests share: a gateway "process" on a state folder that outlives it
(SQLite session store and SQLite inbound journal), a stub model that can hold its turns (a turn
in flight at a stop), and a wait for the journal to settle."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import anyio

from rustyclaw.adapters.channels.send_retry import SendRetry
from rustyclaw.adapters.clock import SystemClock
from rustyclaw.adapters.inbox.sqlite import SqliteInbox
from rustyclaw.adapters.storage.sqlite import SQLiteStore
from rustyclaw.domain.access import AccessController, ChannelAccess
from rustyclaw.domain.agent import AgentRunner
from rustyclaw.domain.context import ContextBuilder
from rustyclaw.domain.dispatch import ChannelDispatcher
from rustyclaw.domain.gateway import Gateway
from rustyclaw.domain.prompt import PromptBuilder
from rustyclaw.domain.sessions import SessionService
from rustyclaw.domain.settings import AgentSettings, PruningSettings, SessionSettings
from rustyclaw.domain.tools import ToolRegistry
from rustyclaw.ports.channel import Channel
from rustyclaw.ports.inbox import InboxCounts
from rustyclaw.ports.llm import LLMRequest, LLMResult, TextDelta
from tests.integration.channel_kit import CharTokenizer, ReplyLLM

FAST_SENDS = SendRetry(attempts=4, initial_delay=0.05, max_delay=0.2)


class HeldLLM(ReplyLLM):
    """Answers like ReplyLLM, but when `held` every turn waits for `gate` (a turn in flight at a stop)."""

    def __init__(self, held: bool) -> None:
        super().__init__()
        self.gate = anyio.Event()
        if not held:
            self.gate.set()
        self.started = 0

    async def stream(self, request: LLMRequest) -> AsyncIterator[TextDelta | LLMResult]:
        self.started += 1
        await self.gate.wait()
        async for item in super().stream(request):
            yield item


@dataclass
class Journaled:
    llm: HeldLLM
    inbox: SqliteInbox
    gateway: Gateway
    dispatcher: Callable[[Channel], ChannelDispatcher]


@asynccontextmanager
async def journaled_gateway(
    state: Path, access: Mapping[str, ChannelAccess], *, held: bool = False, drain: float = 0.0
) -> AsyncIterator[Journaled]:
    """A Gateway and a dispatcher factory on `state`, built afresh and closed at the end."""
    clock = SystemClock()
    store = SQLiteStore(state / "rustyclaw.db")
    inbox = SqliteInbox.in_state_dir(state)
    await store.start()
    await inbox.start()
    llm = HeldLLM(held)
    sessions = SessionService(store, clock, SessionSettings(dm_scope="per-channel-peer"))
    runner = AgentRunner(llm, ToolRegistry(), ContextBuilder(CharTokenizer(), PruningSettings()), clock,
                         context_tokens=8000, max_completion_tokens=200, max_iterations=2)
    gateway = Gateway(sessions, runner, PromptBuilder(None), llm, clock,
                      AgentSettings(context_tokens=8000, max_completion_tokens=200),
                      AccessController(access, clock))

    def dispatcher(channel: Channel) -> ChannelDispatcher:
        return ChannelDispatcher(gateway, channel, inbox, clock, drain_seconds=drain)

    try:
        yield Journaled(llm, inbox, gateway, dispatcher)
    finally:
        await inbox.aclose()
        await store.aclose()


async def settled(inbox: SqliteInbox, finished: int, within: float = 15.0) -> InboxCounts:
    """The journal's counts once `finished` entries are delivered or failed and none is open."""
    with anyio.fail_after(within):
        while True:
            counts = await inbox.counts()
            if counts.unfinished == 0 and counts.delivered + counts.failed >= finished:
                return counts
            await anyio.sleep(0.02)  # the journal has no change event; polls the condition


async def journaled(inbox: SqliteInbox, unfinished: int, within: float = 15.0) -> None:
    """Waits until the journal holds `unfinished` open entries."""
    with anyio.fail_after(within):
        while (await inbox.counts()).unfinished != unfinished:  # noqa: ASYNC110 - no change event
            await anyio.sleep(0.02)  # the journal has no change event; polls the condition
