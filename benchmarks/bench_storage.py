"""Storage backends side by side (one run): appending one message, loading a 2,000-message
session, and the JSON store against a plain append-only JSONL writer (its floor).

Groups: `storage-append` and `storage-load-2000` (pytest-benchmark timings, one event loop kept
across rounds so that every backend pays the same small loop overhead), plus append p50/p99
figures from a manual timing loop (`storage.append_p50_us.<backend>` in figures.json).
The same code runs stand-alone: python -m benchmarks.storage_latency
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from benchmarks.figures import Figures
from benchmarks.storage_latency import (
    BASELINES,
    ENTRY,
    LOAD_MESSAGES,
    STORE_BACKENDS,
    Target,
    append_latencies,
    fill,
    load_times,
    message,
    open_target,
    percentile,
)
from rustyclaw.domain.messages import SessionEntry

LOADED = SessionEntry(key="agent:main:bench:direct:2", session_id="bench-2", created_at=1.0)
PARAMS = [
    pytest.param(name, id=name, marks=[pytest.mark.postgres] if name == "postgres" else [])
    for name in STORE_BACKENDS + BASELINES
]


@pytest.fixture(scope="module")
def storage_loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    try:
        yield loop
    finally:
        loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()


@pytest.fixture(scope="module", params=PARAMS)
def storage_target(
    request: pytest.FixtureRequest, storage_loop: asyncio.AbstractEventLoop, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Target]]:
    name: str = request.param
    folder: Path = tmp_path_factory.mktemp(f"storage-{name}")
    opened = open_target(name, folder)
    target = storage_loop.run_until_complete(opened.__aenter__())
    storage_loop.run_until_complete(fill(target, LOADED))
    try:
        yield name, target
    finally:
        storage_loop.run_until_complete(opened.__aexit__(None, None, None))


def test_append_one_message(
    benchmark: Any, storage_loop: asyncio.AbstractEventLoop, storage_target: tuple[str, Target]
) -> None:
    name, target = storage_target
    benchmark.group = "storage-append"
    benchmark.name = f"append[{name}]"
    numbers = itertools.count(1_000_000)

    def append() -> None:
        storage_loop.run_until_complete(target.append(ENTRY, [message(next(numbers))]))

    benchmark.pedantic(append, rounds=300, warmup_rounds=20, iterations=1)


def test_load_2000_messages(
    benchmark: Any, storage_loop: asyncio.AbstractEventLoop, storage_target: tuple[str, Target]
) -> None:
    name, target = storage_target
    benchmark.group = "storage-load-2000"
    benchmark.name = f"load[{name}]"
    loaded = benchmark.pedantic(
        lambda: storage_loop.run_until_complete(target.load(LOADED)), rounds=15, warmup_rounds=2, iterations=1
    )
    assert loaded == LOAD_MESSAGES


def test_append_percentiles(
    figures: Figures, storage_loop: asyncio.AbstractEventLoop, storage_target: tuple[str, Target]
) -> None:
    name, target = storage_target
    entry = SessionEntry(key=f"agent:main:bench:p:{name}", session_id=f"bench-p-{name}", created_at=1.0)
    samples = storage_loop.run_until_complete(append_latencies(target, 500, entry))
    loads = storage_loop.run_until_complete(load_times(target, LOADED, 5))
    figures.record(f"storage.append_p50_us.{name}", percentile(samples, 0.5) * 1e6, "us")
    figures.record(f"storage.append_p99_us.{name}", percentile(samples, 0.99) * 1e6, "us")
    figures.record(f"storage.load_2000_ms.{name}", sorted(loads)[len(loads) // 2] * 1e3, "ms")
