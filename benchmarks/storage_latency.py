"""Storage latency, every backend side by side: append one message (p50/p99) and load a
2,000-message session, plus a plain append-only JSONL writer as the floor for the JSON store.

Run: python -m benchmarks.storage_latency [--appends N] [--no-postgres]
(bench_storage.py runs the same code under pytest-benchmark and records the figures).

Backends: sqlite (WAL, synchronous=NORMAL), json-<policy> (fsync always|batch|never), postgres
(127.0.0.1:5432 database test, a throwaway schema), and jsonl-<policy>: open the file, write one
line, flush, fdatasync per policy, close; the least any JSONL store can do per append.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any, Protocol

import msgspec

from rustyclaw.domain.messages import ChatMessage, SessionEntry

LOAD_MESSAGES = 2000
STORE_BACKENDS = ["sqlite", "json-always", "json-batch", "json-never", "postgres"]
BASELINES = ["jsonl-batch", "jsonl-never"]
ENTRY = SessionEntry(key="agent:main:bench:direct:1", session_id="bench-1", created_at=1_700_000_000.0)
TEXT = "How do I make the gateway start faster on a Raspberry Pi? " * 3


class Target(Protocol):
    async def append(self, entry: SessionEntry, messages: list[ChatMessage]) -> None: ...

    async def load(self, entry: SessionEntry) -> int: ...


def message(n: int) -> ChatMessage:
    return ChatMessage(
        role="user" if n % 2 == 0 else "assistant",
        content=f"{n} {TEXT}",
        inbound_id=f"tg:{n}" if n % 2 == 0 else None,
        tokens=40,
        created_at=1_700_000_000.0 + n,
    )


class StoreTarget:
    def __init__(self, store: Any) -> None:
        self.store = store

    async def append(self, entry: SessionEntry, messages: list[ChatMessage]) -> None:
        await self.store.append_messages(entry, messages)

    async def load(self, entry: SessionEntry) -> int:
        return len(await self.store.load_messages(entry))


class PlainJsonl:
    """The baseline: one JSON line per message, appended with plain file calls."""

    def __init__(self, folder: Path, policy: str) -> None:
        self.folder = folder
        self.policy = policy
        self.encoder = msgspec.json.Encoder()
        folder.mkdir(parents=True, exist_ok=True)

    def _path(self, entry: SessionEntry) -> Path:
        return self.folder / f"{entry.session_id}.jsonl"

    # Plain blocking calls on the event loop, on purpose: this is the floor, with no locking,
    # no thread hop and no format mapping.
    async def append(self, entry: SessionEntry, messages: list[ChatMessage]) -> None:
        self._append(self._path(entry), b"".join(self.encoder.encode(m) + b"\n" for m in messages))

    def _append(self, path: Path, data: bytes) -> None:
        with open(path, "ab") as f:
            f.write(data)
            f.flush()
            if self.policy != "never":
                os.fdatasync(f.fileno())

    async def load(self, entry: SessionEntry) -> int:
        return len(self._load(self._path(entry)))

    @staticmethod
    def _load(path: Path) -> list[ChatMessage]:
        decoder = msgspec.json.Decoder(ChatMessage)
        with open(path, "rb") as f:
            return [decoder.decode(line) for line in f.read().splitlines()]


@asynccontextmanager
async def open_target(name: str, folder: Path) -> AsyncIterator[Target]:
    async with AsyncExitStack() as stack:
        if name.startswith("jsonl-"):
            yield PlainJsonl(folder / name, name.removeprefix("jsonl-"))
            return
        store: Any
        if name == "sqlite":
            from rustyclaw.adapters.storage.sqlite import SQLiteStore

            store = SQLiteStore(folder / name / "rustyclaw.db")
        elif name.startswith("json-"):
            from rustyclaw.adapters.storage.jsonfile import JsonFileStore

            store = JsonFileStore(folder / name, fsync=name.removeprefix("json-"))
        elif name == "postgres":
            from rustyclaw.adapters.storage.postgres import PostgresStore
            from tests.fixtures.postgres_schema import temporary_schema

            store = PostgresStore(await stack.enter_async_context(temporary_schema("bench")), max_size=2)
        else:
            raise ValueError(f"unknown backend {name!r}")
        await store.start()
        stack.push_async_callback(store.aclose)
        await store.put_session(ENTRY)
        yield StoreTarget(store)


async def append_latencies(target: Target, count: int, entry: SessionEntry = ENTRY) -> list[float]:
    """Seconds per append of one message, `count` times (after a short warm-up)."""
    for n in range(20):
        await target.append(entry, [message(-n - 1)])
    samples: list[float] = []
    for n in range(count):
        batch = [message(n)]
        started = time.perf_counter()
        await target.append(entry, batch)
        samples.append(time.perf_counter() - started)
    return samples


async def fill(target: Target, entry: SessionEntry, count: int = LOAD_MESSAGES) -> None:
    for start in range(0, count, 100):
        await target.append(entry, [message(n) for n in range(start, min(count, start + 100))])


async def load_times(target: Target, entry: SessionEntry, repeats: int) -> list[float]:
    samples: list[float] = []
    for _ in range(repeats):
        started = time.perf_counter()
        loaded = await target.load(entry)
        samples.append(time.perf_counter() - started)
        assert loaded == LOAD_MESSAGES, loaded
    return samples


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def measure(name: str, folder: Path, appends: int, loads: int) -> dict[str, float]:
    async with open_target(name, folder) as target:
        samples = await append_latencies(target, appends)
        loaded = SessionEntry(key="agent:main:bench:direct:2", session_id="bench-2", created_at=1.0)
        await fill(target, loaded)
        load = await load_times(target, loaded, loads)
    return {
        "append_p50_us": percentile(samples, 0.5) * 1e6,
        "append_p99_us": percentile(samples, 0.99) * 1e6,
        "load_2000_ms": statistics.median(load) * 1e3,
    }


async def table(backends: list[str], appends: int, loads: int) -> list[tuple[str, dict[str, float]]]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="rustyclaw-bench-") as tmp:
        for name in backends:
            rows.append((name, await measure(name, Path(tmp), appends, loads)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--appends", type=int, default=2000)
    parser.add_argument("--loads", type=int, default=20)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    backends = [b for b in STORE_BACKENDS + BASELINES if not (args.no_postgres and b == "postgres")]
    rows = asyncio.run(table(backends, args.appends, args.loads))
    print(f"{'backend':<14} {'append p50 µs':>14} {'append p99 µs':>14} {'load 2000 ms':>13}")
    for name, row in rows:
        print(f"{name:<14} {row['append_p50_us']:>14.1f} {row['append_p99_us']:>14.1f} {row['load_2000_ms']:>13.2f}")


if __name__ == "__main__":
    main()
