"""The agent turn loop: ask the model, run the tools it calls, feed the results back, repeat."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence

import msgspec

from rustyclaw.domain.context import ContextBuilder
from rustyclaw.domain.events import ReplyDelta, ToolActivity
from rustyclaw.domain.messages import ChatMessage, TurnOptions, Usage
from rustyclaw.domain.tools import ToolRegistry
from rustyclaw.ext import tokens
from rustyclaw.ports.clock import Clock
from rustyclaw.ports.gateway import Emit
from rustyclaw.ports.llm import LLMClient, LLMRequest, LLMResult, TextDelta, ToolSpec
from rustyclaw.ports.tools import ToolContext

log = logging.getLogger("rustyclaw.agent")

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
    ) -> TurnOutcome:
        """`history` already ends with the user's message; it is extended as steps complete.
        `options` (a request's own max_tokens, sampling, stop, seed, extra system text) win over
        the configured values for this turn. `context_tokens` is the model's window when known
        (domain/maintenance.py), else the configured one."""
        send = emit or _noop
        opts = options or TurnOptions()
        if opts.system:
            system_prompt = f"{system_prompt}\n\n{opts.system}" if system_prompt else opts.system
        window_size = context_tokens or self._context_tokens
        max_completion = self.completion_tokens(window_size, opts)
        temperature = self._temperature if opts.temperature is None else opts.temperature
        system = ChatMessage(role="system", content=system_prompt)
        system.tokens = self._context.text_cost(system_prompt) - tokens.message_overhead(False)
        specs = self._tools.specs(tool_context)
        schema_tokens = sum(self._context.text_cost(_schema_text(spec)) for spec in specs)
        budget = window_size - max_completion - schema_tokens
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
        specs = self._tools.specs(tool_context)
        return (self._context.text_cost(system_prompt) + tokens.REPLY_PRIMING
                + sum(self._context.text_cost(_schema_text(spec)) for spec in specs))

    def stamp(self, message: ChatMessage) -> ChatMessage:
        """Gives a message its id, time and cached token count."""
        if not message.id:
            message.id = new_message_id()
        if not message.created_at:
            message.created_at = self._clock.now()
        self._context.cost(message)
        return message
