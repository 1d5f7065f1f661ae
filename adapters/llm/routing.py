"""Model routing: pick a task's model chain, retry each model with backoff, fall back along the chain."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from contextlib import aclosing
from dataclasses import dataclass
from typing import Protocol, Self

import anyio

from rustyclaw.domain.errors import (
    ConfigError,
    LLMError,
    LLMRateLimitedError,
    LLMRequestError,
    LLMServerError,
    LLMUnavailableError,
)
from rustyclaw.ports.llm import LLMRequest, LLMResult, TextDelta

log = logging.getLogger("rustyclaw.llm")

_JITTER = random.Random()

RETRYABLE: tuple[type[LLMError], ...] = (LLMUnavailableError, LLMRateLimitedError, LLMServerError)


class Provider(Protocol):
    """One backend that serves models by name (OpenAICompatProvider is the real one)."""

    name: str

    async def start(self) -> None: ...

    async def aclose(self) -> None: ...

    def stream(self, model: str, request: LLMRequest) -> AsyncGenerator[TextDelta | LLMResult, None]: ...


@dataclass(frozen=True)
class Route:
    """A task's model chain: `primary` first, then each fallback in order (refs are provider/model)."""

    primary: str
    fallbacks: tuple[str, ...] = ()

    @property
    def chain(self) -> tuple[str, ...]:
        return (self.primary, *self.fallbacks)


@dataclass(frozen=True)
class RetryPolicy:
    """`attempts` tries per model; waits start at `initial_delay`, double, stop growing at `max_delay`.

    `deadline` (seconds, None: none) bounds one request as a whole: no attempt, wait or fallback
    starts after it, so a hanging server costs one timeout rather than attempts x timeout.
    """

    attempts: int = 3
    initial_delay: float = 0.5
    max_delay: float = 8.0
    jitter: float = 0.1
    deadline: float | None = None

    def delay(
        self, failures: int, retry_after: float | None = None, rng: random.Random | None = None
    ) -> float:
        """The wait after the `failures`-th failed try; a server's Retry-After wins up to `max_delay`
        (a longer one is not cut short: `stream` stops retrying that model and says why)."""
        backoff = min(self.initial_delay * 2.0 ** (failures - 1), self.max_delay)
        backoff *= 1 + (rng or _JITTER).uniform(0, self.jitter)
        if retry_after is not None:
            backoff = max(backoff, retry_after)
        return min(backoff, self.max_delay)


def split_ref(ref: str, providers: Mapping[str, object], default_provider: str) -> tuple[str, str]:
    """`provider/model` -> (provider, model); the model part may hold more slashes or colons.

    A ref whose first segment is not a configured provider (a bare `llama3:8b`, or `org/model`) is a
    model of `default_provider`.
    """
    head, sep, rest = ref.partition("/")
    if sep and head in providers and rest:
        return head, rest
    return default_provider, ref


class RoutedLLM:
    """The LLMClient the core uses: routes by task, retries, falls back, never retries shown text."""

    def __init__(
        self,
        providers: Mapping[str, Provider],
        routes: Mapping[str, Route],
        retry: RetryPolicy,
        sleep: Callable[[float], Awaitable[object]] = anyio.sleep,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
        agent_routes: Mapping[str, Mapping[str, Route]] | None = None,
    ) -> None:
        if "default" not in routes:
            raise ConfigError("llm.routes: a 'default' route is required")
        if retry.attempts < 1:
            raise ConfigError(f"llm.retry.attempts: must be at least 1, got {retry.attempts}")
        named = [(f"llm.routes.{task}", route) for task, route in routes.items()]
        named += [(f"agents.list[{agent}].routes.{task}", route)
                  for agent, own in (agent_routes or {}).items() for task, route in own.items()]
        for where, route in named:
            for ref in route.chain:
                name, _, model = ref.partition("/")
                if name not in providers or not model:
                    known = ", ".join(sorted(providers)) or "none"
                    raise ConfigError(
                        f"{where}: {ref!r} must be provider/model with a configured provider "
                        f"(providers: {known})"
                    )
        self._providers = dict(providers)
        self._routes = dict(routes)
        # agents.list[].routes: an agent's own route for a task comes before llm.routes.
        self._agent_routes = {agent: dict(own) for agent, own in (agent_routes or {}).items()}
        self._retry = retry
        self._sleep = sleep
        self._clock = clock
        self._rng = rng or random.Random()

    async def start(self) -> None:
        for provider in self._providers.values():
            await provider.start()

    async def aclose(self) -> None:
        for provider in self._providers.values():
            await provider.aclose()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    @property
    def providers(self) -> Mapping[str, Provider]:
        return self._providers

    def model_for(self, task: str) -> str:
        return self._route(task).primary

    def known_models(self) -> list[str]:
        seen: dict[str, None] = {}
        for route in [*self._routes.values(), *(r for own in self._agent_routes.values() for r in own.values())]:
            seen.update(dict.fromkeys(route.chain))
        return list(seen)

    def _route(self, task: str, agent: str | None = None) -> Route:
        """The agent's route for the task, else llm.routes' one, else the agent's default, else
        llm.routes.default: a task the agent does not route itself keeps the shared task route."""
        own = self._agent_routes.get(agent, {}) if agent is not None else {}
        return own.get(task) or self._routes.get(task) or own.get("default") or self._routes["default"]

    def chain_for(self, request: LLMRequest) -> list[tuple[str, str]]:
        """(provider, model) pairs to try in order: the override or primary, then the fallbacks."""
        route = self._route(request.task, request.agent)
        head_provider = route.primary.partition("/")[0]
        refs = [request.model, *route.chain] if request.model else list(route.chain)
        chain: list[tuple[str, str]] = []
        for ref in refs:
            pair = split_ref(ref, self._providers, head_provider)
            if pair not in chain:
                chain.append(pair)
        return chain

    async def complete(self, request: LLMRequest) -> LLMResult:
        async with aclosing(self.stream(request)) as items:
            async for item in items:
                if isinstance(item, LLMResult):
                    return item
        raise LLMServerError("the model's stream ended without a result")

    async def stream(self, request: LLMRequest) -> AsyncGenerator[TextDelta | LLMResult, None]:
        tried: list[str] = []
        last: LLMError | None = None
        deadline = None if self._retry.deadline is None else self._clock() + self._retry.deadline
        for provider_name, model in self.chain_for(request):
            ref = f"{provider_name}/{model}"
            provider = self._providers[provider_name]
            for attempt in range(1, self._retry.attempts + 1):
                if last is not None and deadline is not None and self._clock() >= deadline:
                    if attempt > 1:
                        tried.append(f"{ref} x{attempt - 1}: {type(last).__name__}: {last}")
                    tried.append(f"stopped: llm.requestTimeoutSeconds ({self._retry.deadline:g} s) passed")
                    raise type(last)("every model failed; tried " + "; ".join(tried)) from last
                shown = False
                try:
                    async with aclosing(provider.stream(model, request)) as items:
                        async for item in items:
                            if isinstance(item, TextDelta):
                                shown = True
                            yield item
                    return
                except LLMError as exc:
                    if shown:
                        # The caller already showed part of this answer; a retry would repeat it.
                        raise
                    last = exc
                    retryable = isinstance(exc, RETRYABLE)
                    log.warning("llm attempt failed model=%s attempt=%d/%d error=%s retryable=%s",
                                ref, attempt, self._retry.attempts, type(exc).__name__, retryable)
                    if not retryable or attempt == self._retry.attempts:
                        tried.append(f"{ref} x{attempt}: {type(exc).__name__}: {exc}")
                        break
                    retry_after = exc.retry_after if isinstance(exc, LLMRateLimitedError) else None
                    if retry_after is not None and retry_after > self._retry.max_delay:
                        # Asking again sooner than the server allows only fails again: say so, move on.
                        note = (f"{ref} x{attempt}: {type(exc).__name__}: {exc} (the server asks to wait "
                                f"{retry_after:g} s, over llm.retry.maxDelaySeconds = {self._retry.max_delay:g} s)")
                        log.warning("llm not retried: %s", note)
                        tried.append(note)
                        break
                    wait = self._retry.delay(attempt, retry_after, self._rng)
                    if deadline is not None:
                        wait = min(wait, max(0.0, deadline - self._clock()))
                    await self._sleep(wait)
        if last is None:  # unreachable: a chain always holds the route's primary
            raise LLMRequestError("no model to try")
        raise type(last)("every model failed; tried " + "; ".join(tried)) from last
