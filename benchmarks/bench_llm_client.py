"""The model call's client side in process: imports attempted and CPU per request against the instant stub.

httpcore looks for sniffio on every request and, when the package is missing, tries (and fails)
to import it four times per request: about 16 % of the client's CPU (profiled with cProfile, see
benchmarks/README.md). sniffio is a core dependency now; ``llm_client_imports_per_request`` (a
count, floored in CI) keeps any per-request import from coming back, and the CPU per request is
reported.
"""

from __future__ import annotations

import asyncio
import cProfile
import pstats
import time

from benchmarks.figures import Figures
from benchmarks.processes import STUB_MODEL, StubLLM
from rustyclaw.adapters.llm.openai_compat import OpenAICompatProvider
from rustyclaw.domain.messages import ChatMessage
from rustyclaw.ports.llm import LLMRequest

WARM = 20
REQUESTS = 300


def test_llm_client_per_request(gateway_stub_llm: StubLLM, figures: Figures) -> None:
    request = LLMRequest(messages=[ChatMessage(role="user", content="hi")])

    async def run() -> tuple[cProfile.Profile, float]:
        async with OpenAICompatProvider("stub", gateway_stub_llm.base_url) as provider:
            for _ in range(WARM):
                await provider.complete(STUB_MODEL, request)
            started = time.process_time()
            for _ in range(REQUESTS):
                await provider.complete(STUB_MODEL, request)
            cpu = time.process_time() - started
            profile = cProfile.Profile()
            profile.enable()
            for _ in range(REQUESTS):
                await provider.complete(STUB_MODEL, request)
            profile.disable()
            return profile, cpu

    profile, cpu = asyncio.run(run())
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    imports = sum(v[1] for k, v in stats.items() if k[2] == "_find_and_load")
    figures.record("llm_client_imports_per_request", imports / REQUESTS, "count", 0.0,
                   "importlib _find_and_load calls per request (cProfile)")
    figures.record("llm_client_cpu_ms_per_request", cpu / REQUESTS * 1000, "ms", None,
                   "process CPU of the provider's complete() against the stub, client side only")
