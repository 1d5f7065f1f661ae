"""The agent turn loop: ask the model, run the tools it calls, feed the results back, repeat."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence

import msgspec

from rustyclaw.domain.context import ContextBuilder
from rustyclaw.domain.events import ReplyDelta, ToolActivity
from rustyclaw.domain.messages import Attachment, ChatMessage, TurnOptions, Usage
from rustyclaw.domain.tools import ToolRegistry
from rustyclaw.ext import tokens
from rustyclaw.ports.clock import Clock
from rustyclaw.ports.gateway import Emit
from rustyclaw.ports.llm import LLMClient, LLMRequest, LLMResult, TextDelta, ToolSpec
from rustyclaw.ports.tools import ToolContext

log = logging.getLogger("rustyclaw.agent")

# What one image takes of the prompt, kept free of history: its real cost is known only once the
# model's server has encoded it (LLaVA-1.5: 576 tokens; Qwen2-VL: about 1,300 for a phone photo).
IMAGE_TOKENS = 1024

# How many turns' tool offers are remembered at once (see AgentRunner._offered); a turn needs its
# own for a few milliseconds, so this only has to cover the turns in flight.
_OFFERED_MEMO_LIMIT = 512
# Schema costs remembered by spec object; MCP servers that come and go replace their specs.
_SCHEMA_COST_LIMIT = 2048

# Called with each finished step (an assistant message and its tool results) so that the
# caller persists the turn as it goes: a crash or /stop keeps every completed step.
Commit = Callable[[Sequence[ChatMessage]], Awaitable[None]]


class TurnOutcome(msgspec.Struct, kw_only=True):
    text: str
    model: str
    usage: Usage
    finish_reason: str
    prompt_tokens: int
    iterations: int


def _schema_text(spec: ToolSpec) -> str:
    return msgspec.json.encode(spec).decode()


def new_message_id() -> str:
    return uuid.uuid4().hex


async def _noop(_: object) -> None:
    return None


class AgentRunner:
    def __init__(
        self,
        llm: LLMClient,
        tools: ToolRegistry,
        context: ContextBuilder,
        clock: Clock,
        *,
        context_tokens: int,
        max_completion_tokens: int,
        max_iterations: int,
        temperature: float | None = None,
    ) -> None:
        self._llm = llm
        self._tools = tools
        self._context = context
        self._clock = clock
        self._context_tokens = context_tokens
        self._max_completion = max_completion_tokens
        self._max_iterations = max_iterations
        self._temperature = temperature
        # id(ToolContext) -> (that context, its offered specs, their schema tokens); the context is
        # kept so that an id reused by a later object never matches.
        self._offered_memo: dict[int, tuple[ToolContext, tuple[ToolSpec, ...], int]] = {}
        self._schema_costs: dict[int, tuple[ToolSpec, int]] = {}

    def _offered(self, tool_context: ToolContext) -> tuple[tuple[ToolSpec, ...], int]:
        """The tools offered in one turn and their schemas' token cost, decided once per turn.

        A turn asks up to three times (the too-long check, compaction's fixed cost, the run), and
        the policy decides every tool each time (~15 decisions, the biggest CPU item of a turn
        after the model call). The gateway builds a fresh ToolContext per turn, so keying by the
        context object's identity keeps the decision per turn: a gate that changes (an MCP server
        connecting, a sub-agent's parent) applies from the next turn, as the offered tools and the
        counted fixed tokens then agree within a turn.
        """
        memo = self._offered_memo.get(id(tool_context))
        if memo is not None and memo[0] is tool_context:
            return memo[1], memo[2]
        specs = self._tools.specs(tool_context)
        schema_tokens = sum(self._schema_cost(spec) for spec in specs)
        if len(self._offered_memo) >= _OFFERED_MEMO_LIMIT:
            del self._offered_memo[next(iter(self._offered_memo))]  # oldest first (insertion order)
        self._offered_memo[id(tool_context)] = (tool_context, specs, schema_tokens)
        return specs, schema_tokens

    def _schema_cost(self, spec: ToolSpec) -> int:
        # A spec's JSON encoding was redone for every spec of every turn; specs are frozen.
        known = self._schema_costs.get(id(spec))
        if known is not None and known[0] is spec:
            return known[1]
        cost = self._context.text_cost(_schema_text(spec))
        if len(self._schema_costs) >= _SCHEMA_COST_LIMIT:
            self._schema_costs.clear()
        self._schema_costs[id(spec)] = (spec, cost)
        return cost

    async def run(
        self,
        system_prompt: str,
        history: Sequence[ChatMessage],
        tool_context: ToolContext,
        *,
        commit: Commit,
        emit: Emit | None = None,
        model: str | None = None,
        task: str = "default",
        options: TurnOptions | None = None,
        context_tokens: int | None = None,
        images: tuple[Attachment, ...] = (),
    ) -> TurnOutcome:
        """`history` already ends with the user's message; it is extended as steps complete.
        `options` (a request's own max_tokens, sampling, stop, seed, extra system text) win over
        the configured values for this turn. `context_tokens` is the model's window when known
        (domain/maintenance.py), else the configured one. `images` go with the user's message to
        the model (a vision route); they are not part of the stored history."""
        send = emit or _noop
        opts = options or TurnOptions()
        if opts.system:
            system_prompt = f"{system_prompt}\n\n{opts.system}" if system_prompt else opts.system
        window_size = context_tokens or self._context_tokens
        max_completion = self.completion_tokens(window_size, opts)
        temperature = self._temperature if opts.temperature is None else opts.temperature
        system = ChatMessage(role="system", content=system_prompt)
        system.tokens = self._context.text_cost(system_prompt) - tokens.message_overhead(False)
        specs, schema_tokens = self._offered(tool_context)
        budget = window_size - max_completion - schema_tokens - IMAGE_TOKENS * len(images)
        working = list(history)
        prompt_in = completion_out = 0
        result: LLMResult | None = None
        window_tokens = 0
        for iteration in range(1, self._max_iterations + 1):
            window = self._context.assemble(system, working, budget)
            window_tokens = window.prompt_tokens + schema_tokens
            request = LLMRequest(
                messages=window.messages,
                tools=specs,
                task=task,
                model=model,
                # The agent's own routes (agents.list[].routes) come first for its requests.
                agent=tool_context.agent_id,
                # Every step resends the user's message, so every step carries its images.
                images=images,
                max_tokens=max_completion,
                temperature=temperature,
                top_p=opts.top_p,
                stop=opts.stop,
                seed=opts.seed,
            )
            result = None
            async for item in self._llm.stream(request):
                if isinstance(item, TextDelta):
                    await send(ReplyDelta(item.text))
                else:
                    result = item
            if result is None:  # the port promises a final LLMResult; guard against a bad adapter
                raise RuntimeError("LLM stream ended without a result")
            # Servers that report no usage (llama.cpp when streaming) get our own count.
            prompt_in += result.usage.prompt_tokens or window_tokens
            completion_out += result.usage.completion_tokens
            answer = self.stamp(result.message)
            answer.meta.setdefault("model", result.model)
            answer.meta.setdefault("stopReason", result.finish_reason)
            step = [answer]
            for call in answer.tool_calls:
                await send(ToolActivity(name=call.name, call_id=call.id, status="started"))
                outcome = await self._tools.execute(call, tool_context)
                await send(ToolActivity(name=call.name, call_id=call.id, status=outcome.status,
                                        detail=outcome.content[:200]))
                step.append(self.stamp(ChatMessage(
                    role="tool", content=outcome.content, tool_call_id=call.id, name=call.name
                )))
            await commit(step)
            working.extend(step)
            if not answer.tool_calls:
                return TurnOutcome(
                    text=answer.content, model=result.model,
                    usage=Usage(prompt_tokens=prompt_in, completion_tokens=completion_out),
                    finish_reason=result.finish_reason, prompt_tokens=window_tokens, iterations=iteration,
                )
            if opts.token_budget is not None and prompt_in + completion_out >= opts.token_budget:
                # Checked after the step's tools ran, so the transcript never holds a tool call
                # without its result; the next model call is the one the budget forbids.
                produced = "\n".join(m.content for m in working[len(history):]
                                     if m.role == "assistant" and m.content.strip())
                stop = self.stamp(ChatMessage(role="assistant", content=(
                    f"I stopped: this run's token budget ({opts.token_budget}) was reached "
                    f"after {prompt_in + completion_out} tokens." + (f"\n\nSo far:\n{produced}" if produced else ""))))
                await commit([stop])
                await send(ReplyDelta(stop.content))
                return TurnOutcome(
                    text=stop.content, model=result.model,
                    usage=Usage(prompt_tokens=prompt_in, completion_tokens=completion_out),
                    finish_reason="token_budget", prompt_tokens=window_tokens, iterations=iteration,
                )
        notice = self.stamp(ChatMessage(
            role="assistant",
            content=f"I stopped after {self._max_iterations} tool steps without a final answer.",
        ))
        await commit([notice])
        await send(ReplyDelta(notice.content))
        return TurnOutcome(
            text=notice.content, model=result.model if result else "",
            usage=Usage(prompt_tokens=prompt_in, completion_tokens=completion_out),
            finish_reason="tool_limit", prompt_tokens=window_tokens, iterations=self._max_iterations,
        )

    def completion_tokens(self, window: int, options: TurnOptions | None = None) -> int:
        """The completion reserve: a client's max_tokens is honoured but never allowed to leave no
        room for the prompt, and a small model's window keeps at least half for the prompt."""
        requested = options.max_tokens if options is not None else None
        wanted = self._max_completion if requested is None else requested
        return max(1, min(wanted, window // 2))

    def fixed_tokens(self, system_prompt: str, tool_context: ToolContext, options: TurnOptions | None = None) -> int:
        """What a request's prompt carries besides history: the system prompt and the tool schemas."""
        if options is not None and options.system:
            system_prompt = f"{system_prompt}\n\n{options.system}" if system_prompt else options.system
        return self._context.text_cost(system_prompt) + tokens.REPLY_PRIMING + self._offered(tool_context)[1]

    def stamp(self, message: ChatMessage) -> ChatMessage:
        """Gives a message its id, time and cached token count."""
        if not message.id:
            message.id = new_message_id()
        if not message.created_at:
            message.created_at = self._clock.now()
        self._context.cost(message)
        return message
