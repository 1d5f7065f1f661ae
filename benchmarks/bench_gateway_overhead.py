"""Gateway overhead per message through the web channel (`POST /v1/chat/completions`) against an
instant LLM stub, streamed and not, first straight against the stub and then through `rustyclaw serve`
(SQLite) with the same client; overhead = gateway latency - direct stub latency, per percentile.

Three loads, each over 100 sessions (distinct `user` values):
- ``c1``: one session at a time, 20 messages each (2,000 requests): the bare per-message cost.
- ``c100``: all 100 sessions at once, each sending its next message as soon as the reply is in
  (closed loop, 2,000 requests): saturation, so latency is mostly queueing behind the others.
- ``paced100``: all 100 sessions open, 100 requests/s in total (each session one message a second,
  600 requests): 100 concurrent sessions below saturation.

Figures only; the budget (p50 2 ms, p99 10 ms) is reported, not asserted.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from benchmarks import http_load
from benchmarks.figures import Figures
from benchmarks.processes import ServeProcess, StubLLM, write_config

SESSIONS = 100
PER_SESSION = 20
PACED_PER_SESSION = 6
PACED_RATE = 100.0
P50_BUDGET_MS = 2.0
P99_BUDGET_MS = 10.0


@pytest.fixture(scope="module")
def overhead_gateway(gateway_stub_llm: StubLLM, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    home = tmp_path_factory.mktemp("overhead")
    serve = ServeProcess(write_config(home, gateway_stub_llm.base_url), home)
    serve.start()
    try:
        # Warm-up: the first turn loads the tokenizer and the LLM client; both shapes get exercised.
        for stream in (False, True):
            http_load.chat_load("127.0.0.1", serve.port, sessions=20, per_session=5, concurrency=10,
                                stream=stream, prefix=f"warm-{stream}")
        yield serve
    finally:
        serve.stop()


def _ms(seconds: float) -> float:
    return seconds * 1000


@pytest.mark.parametrize("concurrency", [1, 100, "paced100"])
@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
def test_gateway_overhead(
    stream: bool, concurrency: int | str, overhead_gateway: ServeProcess, gateway_stub_llm: StubLLM, figures: Figures
) -> None:
    shape = "sse" if stream else "json"
    case = f"{shape}_{concurrency}" if isinstance(concurrency, str) else f"{shape}_c{concurrency}"

    def load(port: int, prefix: str) -> tuple[list[float], float]:
        started = time.perf_counter()
        if isinstance(concurrency, str):
            latencies = http_load.chat_load_paced("127.0.0.1", port, sessions=SESSIONS, per_session=PACED_PER_SESSION,
                                                  rate=PACED_RATE, stream=stream, prefix=prefix)
        else:
            latencies = http_load.chat_load("127.0.0.1", port, sessions=SESSIONS, per_session=PER_SESSION,
                                            concurrency=concurrency, stream=stream, prefix=prefix)
        return latencies, time.perf_counter() - started

    direct, direct_wall = load(gateway_stub_llm.port, f"direct-{case}")
    through, through_wall = load(overhead_gateway.port, f"gw-{case}")
    expected = SESSIONS * (PACED_PER_SESSION if isinstance(concurrency, str) else PER_SESSION)
    assert len(direct) == len(through) == expected

    summary: dict[str, float] = {}
    for q in (50, 99):
        gateway_ms = _ms(http_load.percentile(through, q))
        stub_ms = _ms(http_load.percentile(direct, q))
        budget = P50_BUDGET_MS if q == 50 else P99_BUDGET_MS
        figures.record(f"overhead_{case}_p{q}_ms", gateway_ms - stub_ms, "ms", budget,
                       f"gateway p{q} {gateway_ms:.3f} ms - stub p{q} {stub_ms:.3f} ms")
        summary[f"gateway_p{q}_ms"] = round(gateway_ms, 4)
        summary[f"stub_p{q}_ms"] = round(stub_ms, 4)
    summary["gateway_requests_per_s"] = round(len(through) / through_wall, 1)
    summary["stub_requests_per_s"] = round(len(direct) / direct_wall, 1)
    figures.detail(f"overhead_{case}", summary)
