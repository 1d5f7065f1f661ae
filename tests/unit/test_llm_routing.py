"""RoutedLLM: routes, retries with backoff, fallbacks, and no retry once text was shown (fake provider)."""

from __future__ import annotations

import random
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field

import pytest

from rustyclaw.adapters.llm.routing import RetryPolicy, Route, RoutedLLM, split_ref
from rustyclaw.domain.errors import (
    ConfigError,
    LLMError,
    LLMRateLimitedError,
    LLMRequestError,
    LLMServerError,
    LLMUnavailableError,
)
from rustyclaw.domain.messages import ChatMessage, Usage
from rustyclaw.ports.llm import LLMRequest, LLMResult, TextDelta

pytestmark = pytest.mark.anyio

# One scripted answer: the text pieces to stream, then either an error or a normal end.
Step = tuple[list[str], LLMError | None]


def ok(*pieces: str) -> Step:
    return (list(pieces), None)


def fails(error: LLMError, *pieces: str) -> Step:
    return (list(pieces), error)


@dataclass
class FakeProvider:
    """Answers each model from its own script, one step per call, and records every call."""

    name: str
    scripts: dict[str, list[Step]] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    closed_streams: int = 0
    started: bool = False
    closed: bool = False

    async def start(self) -> None:
        self.started = True

    async def aclose(self) -> None:
        self.closed = True

    async def stream(self, model: str, request: LLMRequest) -> AsyncGenerator[TextDelta | LLMResult, None]:
        self.calls.append(model)
        script = self.scripts.get(model)
        if not script:
            raise LLMRequestError(f"model {model} not found")
        pieces, error = script.pop(0)
        try:
            for piece in pieces:
                yield TextDelta(piece)
            if error is not None:
                raise error
            yield LLMResult(
                message=ChatMessage(role="assistant", content="".join(pieces)),
                finish_reason="stop",
                usage=Usage(prompt_tokens=3, completion_tokens=len(pieces)),
                model=f"{self.name}/{model}",
                provider=self.name,
            )
        finally:
            self.closed_streams += 1


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def rate_limited(retry_after: float | None) -> LLMRateLimitedError:
    exc = LLMRateLimitedError("429")
    exc.retry_after = retry_after
    return exc


REQUEST = LLMRequest(messages=[ChatMessage(role="user", content="hi")])
POLICY = RetryPolicy(attempts=3, initial_delay=1.0, max_delay=3.0, jitter=0.1)


def routed(
    providers: list[FakeProvider], routes: dict[str, Route], sleeps: Sleeps, policy: RetryPolicy = POLICY
) -> RoutedLLM:
    return RoutedLLM({p.name: p for p in providers}, routes, policy, sleep=sleeps, rng=random.Random(7))


async def collect(llm: RoutedLLM, request: LLMRequest = REQUEST) -> tuple[list[str], LLMResult]:
    texts: list[str] = []
    result: LLMResult | None = None
    async for item in llm.stream(request):
        if isinstance(item, TextDelta):
            texts.append(item.text)
        else:
            result = item
    assert result is not None
    return texts, result


def test_split_ref_keeps_slashes_and_colons_in_the_model() -> None:
    providers = {"ollama": 1, "vllm": 2}
    assert split_ref("ollama/library/llama3:8b", providers, "vllm") == ("ollama", "library/llama3:8b")
    assert split_ref("meta-llama/Llama-3-8B", providers, "vllm") == ("vllm", "meta-llama/Llama-3-8B")
    assert split_ref("qwen2.5:7b", providers, "ollama") == ("ollama", "qwen2.5:7b")


def test_model_for_and_known_models() -> None:
    a, b = FakeProvider("a"), FakeProvider("b")
    llm = routed([a, b], {
        "default": Route("a/m1", ("b/m2",)),
        "code": Route("b/coder:7b", ("a/m1",)),
    }, Sleeps())
    assert llm.model_for("default") == "a/m1"
    assert llm.model_for("code") == "b/coder:7b"
    assert llm.model_for("no-such-task") == "a/m1"
    assert llm.known_models() == ["a/m1", "b/m2", "b/coder:7b"]


def test_routes_are_checked_against_providers() -> None:
    with pytest.raises(ConfigError, match="default"):
        routed([FakeProvider("a")], {"code": Route("a/m")}, Sleeps())
    with pytest.raises(ConfigError, match=r"llm\.routes\.default.*'x/m'"):
        routed([FakeProvider("a")], {"default": Route("a/m", ("x/m",))}, Sleeps())
    with pytest.raises(ConfigError, match="provider/model"):
        routed([FakeProvider("a")], {"default": Route("a")}, Sleeps())


async def test_start_and_aclose_reach_every_provider() -> None:
    a, b = FakeProvider("a"), FakeProvider("b")
    llm = routed([a, b], {"default": Route("a/m", ("b/m",))}, Sleeps())
    await llm.start()
    await llm.aclose()
    assert a.started and b.started and a.closed and b.closed


async def test_success_streams_deltas_then_result() -> None:
    a = FakeProvider("a", {"m": [ok("Hel", "lo")]})
    llm = routed([a], {"default": Route("a/m")}, Sleeps())
    texts, result = await collect(llm)
    assert texts == ["Hel", "lo"]
    assert result.message.content == "Hello" and result.model == "a/m"


async def test_retryable_errors_back_off_exponentially_with_jitter_then_succeed() -> None:
    sleeps = Sleeps()
    policy = RetryPolicy(attempts=4, initial_delay=1.0, max_delay=3.0, jitter=0.1)
    a = FakeProvider("a", {"m": [
        fails(LLMServerError("500")), fails(LLMUnavailableError("refused")), fails(LLMServerError("502")),
        ok("fine"),
    ]})
    llm = routed([a], {"default": Route("a/m")}, sleeps, policy)
    texts, _ = await collect(llm)
    assert texts == ["fine"]
    assert a.calls == ["m"] * 4
    assert len(sleeps.delays) == 3
    for delay, base in zip(sleeps.delays, [1.0, 2.0, 3.0], strict=True):
        assert base <= delay <= min(base * 1.1, 3.0)


async def test_retry_after_is_honoured_up_to_the_max_delay() -> None:
    sleeps = Sleeps()
    a = FakeProvider("a", {"m": [fails(rate_limited(2.5)), fails(rate_limited(3.0)), ok("x")]})
    llm = routed([a], {"default": Route("a/m")}, sleeps)
    await collect(llm)
    assert sleeps.delays == [2.5, 3.0]


async def test_a_retry_after_over_the_cap_is_not_cut_short_but_said() -> None:
    # Retrying after the 3 s cap when the server asked for 60 s would only fail again, unexplained.
    sleeps = Sleeps()
    a = FakeProvider("a", {"m": [fails(rate_limited(60.0)), ok("too early")]})
    llm = routed([a], {"default": Route("a/m")}, sleeps)
    with pytest.raises(LLMRateLimitedError, match=r"asks to wait 60 s, over llm\.retry\.maxDelaySeconds = 3 s"):
        await collect(llm)
    assert a.calls == ["m"] and sleeps.delays == []


async def test_a_retry_after_over_the_cap_moves_to_the_fallback() -> None:
    sleeps = Sleeps()
    a = FakeProvider("a", {"m": [fails(rate_limited(60.0))]})
    b = FakeProvider("b", {"n": [ok("from b")]})
    llm = routed([a, b], {"default": Route("a/m", ("b/n",))}, sleeps)
    texts, _ = await collect(llm)
    assert texts == ["from b"] and sleeps.delays == []


async def test_persistent_server_errors_move_to_the_fallback_without_waiting_between_models() -> None:
    sleeps = Sleeps()
    a = FakeProvider("a", {"m": [fails(LLMServerError("500"))] * 3})
    b = FakeProvider("b", {"n": [ok("from b")]})
    llm = routed([a, b], {"default": Route("a/m", ("b/n",))}, sleeps)
    texts, result = await collect(llm)
    assert a.calls == ["m", "m", "m"] and b.calls == ["n"]
    assert len(sleeps.delays) == 2  # between a's three tries only
    assert texts == ["from b"] and result.provider == "b"


async def test_request_errors_skip_to_the_next_model_at_once() -> None:
    sleeps = Sleeps()
    a = FakeProvider("a", {})  # every model is unknown: a 404 from the server
    b = FakeProvider("b", {"n": [ok("ok")]})
    llm = routed([a, b], {"default": Route("a/missing", ("b/n",))}, sleeps)
    _, result = await collect(llm)
    assert a.calls == ["missing"] and sleeps.delays == []
    assert result.model == "b/n"


async def test_no_retry_or_fallback_after_text_was_shown() -> None:
    a = FakeProvider("a", {"m": [fails(LLMServerError("cut"), "partial ")]})
    b = FakeProvider("b", {"n": [ok("other")]})
    llm = routed([a, b], {"default": Route("a/m", ("b/n",))}, Sleeps())
    shown: list[str] = []
    with pytest.raises(LLMServerError, match="cut"):
        async for item in llm.stream(REQUEST):
            if isinstance(item, TextDelta):
                shown.append(item.text)
    assert shown == ["partial "]
    assert a.calls == ["m"] and b.calls == []


async def test_when_everything_fails_the_last_error_lists_what_was_tried() -> None:
    a = FakeProvider("a", {"m": [fails(LLMServerError("boom"))] * 3})
    b = FakeProvider("b", {"n": [fails(LLMUnavailableError("refused"))] * 3})
    llm = routed([a, b], {"default": Route("a/m", ("b/n",))}, Sleeps())
    with pytest.raises(LLMUnavailableError) as caught:
        await llm.complete(REQUEST)
    message = str(caught.value)
    assert "a/m x3" in message and "boom" in message and "b/n x3" in message and "refused" in message
    assert isinstance(caught.value.__cause__, LLMUnavailableError)


async def test_request_model_overrides_the_head_and_keeps_the_task_chain() -> None:
    a = FakeProvider("a", {"big": [fails(LLMRequestError("no such model"))]})
    b = FakeProvider("b", {"n": [ok("fallback")]})
    llm = routed([a, b], {"default": Route("a/m", ("b/n",)), "code": Route("b/n")}, Sleeps())
    request = LLMRequest(messages=REQUEST.messages, model="a/big")
    _, result = await collect(llm, request)
    assert a.calls == ["big", "m"]  # a/m is the route's primary, after the override
    assert result.model == "b/n"


async def test_bare_model_override_goes_to_the_heads_provider() -> None:
    a = FakeProvider("a", {"llama3:8b": [ok("hi")]})
    llm = routed([a], {"default": Route("a/m")}, Sleeps())
    _, result = await collect(llm, LLMRequest(messages=REQUEST.messages, model="llama3:8b"))
    assert result.model == "a/llama3:8b"


async def test_task_picks_its_route() -> None:
    a = FakeProvider("a", {"m": [ok("default")]})
    b = FakeProvider("b", {"coder": [ok("code")]})
    llm = routed([a, b], {"default": Route("a/m"), "code": Route("b/coder")}, Sleeps())
    result = await llm.complete(LLMRequest(messages=REQUEST.messages, task="code"))
    assert result.message.content == "code" and a.calls == []


async def test_closing_the_stream_early_closes_the_providers_stream() -> None:
    a = FakeProvider("a", {"m": [ok("one", "two", "three")]})
    llm = routed([a], {"default": Route("a/m")}, Sleeps())
    stream = llm.stream(REQUEST)
    first = await anext(stream)
    assert first == TextDelta("one")
    await stream.aclose()
    assert a.closed_streams == 1


def test_an_agents_own_routes_come_before_the_shared_ones() -> None:
    a = FakeProvider("a")
    llm = RoutedLLM({"a": a}, {"default": Route("a/m"), "code": Route("a/coder"), "fast": Route("a/quick")},
                    POLICY, agent_routes={"writer": {"summary": Route("a/sum", ("a/sum2",)),
                                                     "default": Route("a/prose")}})

    def chain(task: str, agent: str | None, model: str | None = None) -> list[str]:
        request = LLMRequest(messages=REQUEST.messages, task=task, agent=agent, model=model)
        return [f"{p}/{m}" for p, m in llm.chain_for(request)]

    assert chain("summary", "writer") == ["a/sum", "a/sum2"]
    assert chain("summary", "other") == chain("summary", None) == ["a/m"]
    assert chain("code", "writer") == ["a/coder"]  # a task the agent does not route keeps llm.routes
    assert chain("vision", "writer") == ["a/prose"]  # unrouted everywhere: the agent's default
    assert chain("summary", "writer", model="a/pick") == ["a/pick", "a/sum", "a/sum2"]
    assert "a/sum2" in llm.known_models()
    with pytest.raises(ConfigError, match=r"agents\.list\[writer\]\.routes\.code.*'x/m'"):
        RoutedLLM({"a": a}, {"default": Route("a/m")}, POLICY, agent_routes={"writer": {"code": Route("x/m")}})
