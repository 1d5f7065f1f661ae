"""Keeping a session inside its model's window: the window itself, the too-long check, the
pre-compaction memory flush and compaction (automatic and `/compact`).

The gateway calls `ContextMaintenance` around a turn:
1. `window_for(model)`: the model server's real context length (llama.cpp `/props`, Ollama
   `/api/show`, ...) through the ContextWindowProbe port, else the configured `contextTokens`.
2. `too_long(...)`: a message that cannot fit the window even alone is stored but kept out of the
   model's context (`meta.contextExcluded`), and the user is told so; the session keeps working.
3. `prepare(...)`: near the window, once per compaction cycle, the memory flush; past the threshold,
   compaction. OpenClaw checks its threshold after a turn; RustyClaw checks before the model call,
   which keeps the current turn inside the window too.
4. On a context-overflow error from the server (our cl100k counts can be short of the model's own
   tokenizer) the window for that model is shrunk by the observed ratio and the turn is retried once
   after a forced compaction.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime

import anyio
import msgspec

from rustyclaw.domain.compaction import (
    EXCLUDED_META,
    ActiveView,
    Budget,
    CompactionReport,
    CompactionSettings,
    active_view,
    exclusion_entry,
    plan_cut,
)
from rustyclaw.domain.compactor import Compactor
from rustyclaw.domain.context import ContextBuilder
from rustyclaw.domain.errors import ContextOverflowError
from rustyclaw.domain.memory import FLUSH_AT, FLUSH_COUNT, MemoryFlusher, flush_due
from rustyclaw.domain.messages import ChatMessage, SessionEntry
from rustyclaw.domain.sessions import SessionService
from rustyclaw.ports.clock import Clock
from rustyclaw.ports.model_info import ContextWindowProbe

log = logging.getLogger("rustyclaw.compaction")

# A probe that failed (server still loading) is asked again after this many seconds.
_PROBE_RETRY_SECONDS = 30.0
_SHRINK_MARGIN = 0.9


class ContextWindows:
    """The context window per model ref: probed once, cached; the configured value as fallback."""

    def __init__(self, probe: ContextWindowProbe | None, default: int, clock: Clock) -> None:
        self._probe = probe
        self.default = default
        self._clock = clock
        self._known: dict[str, int] = {}
        self._retry_at: dict[str, float] = {}
        # Learned after an overflow: the share of the window our counts may fill for that model.
        self._scale: dict[str, float] = {}

    async def window_for(self, model_ref: str) -> int:
        window = self._known.get(model_ref)
        if window is None:
            window = await self._ask(model_ref)
        return max(256, int(window * self._scale.get(model_ref, 1.0)))

    async def _ask(self, model_ref: str) -> int:
        if self._probe is None or self._clock.monotonic() < self._retry_at.get(model_ref, 0.0):
            return self.default
        found = await self._probe.context_window(model_ref)
        if found is None or found <= 0:
            self._retry_at[model_ref] = self._clock.monotonic() + _PROBE_RETRY_SECONDS
            return self.default
        log.info("context window of %s: %d tokens (from the server)", model_ref, found)
        self._known[model_ref] = found
        return found

    def learn(self, model_ref: str, error: ContextOverflowError, sent_tokens: int) -> None:
        """The server refused a prompt as too long. If it named its window and that is not the one
        we used, the window was wrong: take the server's. Otherwise our count (`sent_tokens`, prompt
        plus completion reserve) was short of the model's own tokenizer: scale this model down."""
        reported, window = _overflow_numbers(error)
        if window and window != self._known.get(model_ref):
            log.warning("model %s runs with a %d-token window (from its overflow error)", model_ref, window)
            self._known[model_ref] = window
            return
        scale = self._scale.get(model_ref, 1.0)
        ratio = sent_tokens / reported if reported and reported > sent_tokens > 0 else 0.8
        self._scale[model_ref] = max(0.3, scale * ratio * _SHRINK_MARGIN)
        log.warning("model %s counts more tokens than we do; its usable window is now %.0f%%",
                    model_ref, self._scale[model_ref] * 100)


def _overflow_numbers(error: BaseException) -> tuple[int | None, int | None]:
    """(reported tokens, window) from the error or the one it wraps (the router re-raises)."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, ContextOverflowError) and (seen.reported or seen.window):
            return seen.reported, seen.window
        seen = seen.__cause__
    return None, None


class TooLong(msgspec.Struct, frozen=True, kw_only=True):
    message_tokens: int
    available: int
    window: int

    def notice(self) -> str:
        return (
            f"Your message is too long for this model: it is about {self.message_tokens} tokens, and "
            f"the model's context window of {self.window} tokens leaves about {self.available} for a "
            "message once the instructions and room for the answer are counted. It was not sent to the "
            "model. Please send a shorter message or split it into parts."
        )


class Prepared(msgspec.Struct, kw_only=True):
    view: ActiveView
    report: CompactionReport | None = None
    flushed: str | None = None


class ContextMaintenance:
    def __init__(
        self,
        sessions: SessionService,
        compactor: Compactor,
        context: ContextBuilder,
        windows: ContextWindows,
        clock: Clock,
        stamp: Callable[[ChatMessage], ChatMessage],
        flusher: MemoryFlusher | None = None,
    ) -> None:
        self._sessions = sessions
        self._compactor = compactor
        self._context = context
        self.windows = windows
        self._clock = clock
        self._stamp = stamp
        self._flusher = flusher

    @property
    def settings(self) -> CompactionSettings:
        return self._compactor.settings

    async def view(self, entry: SessionEntry) -> ActiveView:
        return active_view(await self._sessions.history(entry))

    def too_long(self, message: ChatMessage, window: int, fixed_tokens: int) -> TooLong | None:
        """Whether the message itself is too long for the window. `fixed_tokens`: system prompt, tool
        schemas and the completion reserve, what the message must share the window with even when
        every older turn is left out.

        A message is too long when it takes more than half the window (past that a small local model
        has no room left for the conversation and every later turn would start by compacting it), or
        when it does not fit what the rest leaves and is not small itself (an eighth of the window):
        a short message is never blamed for a prompt that many tool schemas fill.
        """
        available = max(0, min(window - fixed_tokens, window // 2))
        cost = self._context.cost(message)
        if cost > window // 2 or (cost > available and cost > window // 8):
            return TooLong(message_tokens=cost, available=available, window=window)
        return None

    @staticmethod
    def exclude(message: ChatMessage) -> None:
        message.meta[EXCLUDED_META] = "too_long"

    async def exclude_stored(self, entry: SessionEntry, message: ChatMessage) -> None:
        """Keeps a message that is already stored out of later contexts (an exclusion entry)."""
        marker = self._stamp(exclusion_entry(message.id))
        with anyio.CancelScope(shield=True):
            await self._sessions.append(entry, [marker])

    def prompt_tokens(self, view: ActiveView, fixed_tokens: int) -> int:
        return fixed_tokens + sum(self._context.cost(m) for m in view.messages)

    async def prepare(
        self, entry: SessionEntry, view: ActiveView, fixed_tokens: int, window: int, model: str | None,
        *, force: bool = False, instructions: str = "",
    ) -> Prepared:
        """Flushes memory and compacts when the view nears the window (always when `force`).

        `fixed_tokens` is the prompt besides history: system prompt (without the summary, which
        compaction replaces), tool schemas.
        """
        budget = Budget.of(self.settings, window)
        costs = [self._context.cost(m) for m in view.messages]
        tokens = fixed_tokens + sum(costs)
        automatic = self.settings.enabled and tokens > budget.threshold
        if not (force or automatic or tokens > budget.flush_at):
            return Prepared(view=view)
        # Nothing older than the kept tail (a new session whose tool schemas fill a small window):
        # there is nothing to lose, so neither a flush nor a summary request is made.
        cut = plan_cut(view.messages, costs, budget.keep_recent)
        if cut == 0:
            nothing = CompactionReport(compacted=False, reason="nothing to compact yet",
                                       tokens_before=tokens, tokens_after=tokens)
            return Prepared(view=view, report=nothing if force or automatic else None)
        flushed: str | None = None
        if self._flush_enabled(entry):
            flushed = await self._flush(entry, view.messages[:cut], budget, model)
        if not (force or automatic):
            return Prepared(view=view, flushed=flushed)
        log.info("compaction start session=%s tokens=%d threshold=%d manual=%s",
                 entry.key, tokens, budget.threshold, force)
        compaction, report = await self._compactor.compact(
            view, budget, fixed_tokens, model=model, instructions=instructions, manual=force, agent=entry.agent_id
        )
        if compaction is None:
            return Prepared(view=view, report=report, flushed=flushed)
        self._stamp(compaction)
        with anyio.CancelScope(shield=True):  # a /stop must not leave the entry half-recorded
            await self._sessions.append(entry, [compaction])
            entry.compaction_count += 1
            await self._sessions.store.put_session(entry)
        log.info("compaction complete session=%s tokens %d -> %d", entry.key, report.tokens_before,
                 report.tokens_after)
        return Prepared(view=await self.view(entry), report=report, flushed=flushed)

    def _flush_enabled(self, entry: SessionEntry) -> bool:
        return self._flusher is not None and self._flusher.settings.enabled and flush_due(entry)

    async def _flush(self, entry: SessionEntry, leaving: Sequence[ChatMessage], budget: Budget,
                     model: str | None) -> str | None:
        """`leaving`: what compaction would take out of the context, what must not be forgotten."""
        assert self._flusher is not None
        now = datetime.fromtimestamp(self._clock.now(), tz=self._sessions.settings.timezone)
        path = await self._flusher.flush(entry.agent_id, leaving, budget, now.date(), now.strftime("%H:%M"), model)
        # Tried once per cycle, written or not: a model with nothing to say is not asked every turn.
        entry.meta[FLUSH_COUNT] = entry.compaction_count
        entry.meta[FLUSH_AT] = int(self._clock.now() * 1000)
        await self._sessions.store.put_session(entry)
        return path
