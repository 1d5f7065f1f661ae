"""The summary step of compaction: older turns to a bounded summary, in stages when they are long."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import anyio

from rustyclaw.domain.compaction import (
    MAX_STAGES,
    SUMMARY_SYSTEM,
    ActiveView,
    Budget,
    CompactionReport,
    CompactionSettings,
    chunk,
    compaction_entry,
    plan_cut,
    render,
    summary_request_text,
)
from rustyclaw.domain.context import ContextBuilder
from rustyclaw.domain.errors import LLMError
from rustyclaw.domain.messages import ChatMessage
from rustyclaw.domain.task_routing import SUMMARY_TASK
from rustyclaw.ports.llm import LLMClient, LLMRequest

log = logging.getLogger("rustyclaw.compaction")


class SummaryFailed(Exception):
    """A summary that must not be stored (cut at its token bound, empty, timed out)."""


class Compactor:
    """Summarises the compactable part of an active view; stores nothing itself.

    Each request holds at most `Budget.chunk_tokens` of transcript and asks for at most
    `Budget.summary_tokens`; a long history is summarised in up to MAX_STAGES stages, each
    re-distilling the summary so far with the next part (OpenClaw's summarizeInStages).
    """

    def __init__(self, llm: LLMClient, context: ContextBuilder, settings: CompactionSettings) -> None:
        self._llm = llm
        self._context = context
        self.settings = settings

    async def compact(
        self,
        view: ActiveView,
        budget: Budget,
        fixed_tokens: int,
        *,
        model: str | None = None,
        instructions: str = "",
        manual: bool = False,
        agent: str | None = None,
    ) -> tuple[ChatMessage | None, CompactionReport]:
        """The compaction entry to append (None when nothing was compacted) and what it cost.

        `fixed_tokens` is what every request carries besides history (system prompt, tool schemas).
        """
        messages = view.messages
        costs = [self._context.cost(m) for m in messages]
        summary_cost = self._context.text_cost(view.summary) if view.summary else 0
        before = fixed_tokens + summary_cost + sum(costs)
        cut = plan_cut(messages, costs, budget.keep_recent)
        if cut == 0:
            return None, CompactionReport(compacted=False, reason="nothing to compact yet",
                                          tokens_before=before, tokens_after=before)
        usage = [0, 0]
        try:
            with anyio.fail_after(self.settings.timeout_seconds):
                summary, stages = await self._summarise(
                    messages[:cut], view.summary, budget, model or self.settings.model, instructions, usage,
                    agent,
                )
        except (LLMError, SummaryFailed, TimeoutError) as exc:
            reason = "timed out" if isinstance(exc, TimeoutError) else str(exc)
            log.warning("compaction failed, history kept: %s", reason)
            return None, CompactionReport(
                compacted=False, reason=f"the summary failed ({reason}); nothing was removed",
                tokens_before=before, tokens_after=before,
                cost_prompt_tokens=usage[0], cost_completion_tokens=usage[1],
            )
        after = fixed_tokens + self._context.text_cost(summary) + sum(costs[cut:])
        entry = compaction_entry(summary, messages[cut].id, before, after, manual=manual)
        return entry, CompactionReport(
            compacted=True, tokens_before=before, tokens_after=after, messages_summarised=cut,
            cost_prompt_tokens=usage[0], cost_completion_tokens=usage[1], stages=stages,
        )

    async def _summarise(
        self,
        messages: Sequence[ChatMessage],
        previous: str | None,
        budget: Budget,
        model: str | None,
        instructions: str,
        usage: list[int],
        agent: str | None = None,
    ) -> tuple[str, int]:
        lines = [render(m) for m in messages]
        costs = [self._context.text_cost(line) for line in lines]
        previous_cost = self._context.text_cost(previous) if previous else 0
        chunks = chunk(lines, costs, max(128, budget.chunk_tokens - previous_cost - budget.summary_tokens // 2))
        if len(chunks) > MAX_STAGES:
            # Bounded cost: the oldest parts beyond the stage limit are named, not summarised
            # (they stay in the store).
            skipped = sum(len(c) for c in chunks[:-MAX_STAGES])
            chunks = chunks[-MAX_STAGES:]
            chunks[0].insert(0, f"[{skipped} older messages are left out of this summary]")
        summary = previous
        for part in chunks:
            request = LLMRequest(
                messages=[
                    ChatMessage(role="system", content=SUMMARY_SYSTEM),
                    ChatMessage(role="user", content=summary_request_text(summary, part, instructions)),
                ],
                model=model,
                task=SUMMARY_TASK,  # the agent's routes.summary, else llm.routes.summary when configured
                agent=agent,
                max_tokens=budget.summary_tokens,
                temperature=0.2,
            )
            result = await self._llm.complete(request)
            usage[0] += result.usage.prompt_tokens
            usage[1] += result.usage.completion_tokens
            text = result.message.content.strip()
            if result.finish_reason == "length":
                raise SummaryFailed(f"the summary was cut at its bound of {budget.summary_tokens} tokens")
            if not text:
                raise SummaryFailed("the model returned an empty summary")
            summary = text
        assert summary is not None  # at least one chunk: cut > 0
        return summary, len(chunks)
