"""What grows in `rustyclaw serve` as messages arrive: tracemalloc snapshots compared (stand-alone tool).

    python benchmarks/memory_growth.py [--first 1000] [--more 2000] [--top 8]

Runs the gateway under `benchmarks.traced_serve` (tracemalloc, 8 frames) against the instant stub,
sends `--first` messages over 100 sessions, takes a snapshot (SIGUSR1), sends `--more`, takes
another, and prints the allocation sites that grew most between the two, with their tracebacks.
Slow (tracemalloc makes the gateway several times slower); RSS under tracemalloc is not the real
figure, `bench_gateway_memory.py` measures that.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import http_load
from benchmarks.processes import ServeProcess, StubLLM, write_config

SESSIONS = 100


def snapshot(pid: int, folder: Path) -> Path:
    before = len(list(folder.glob("*.pickle"))) if folder.exists() else 0
    os.kill(pid, signal.SIGUSR1)
    deadline = time.monotonic() + 120
    while len(list(folder.glob("*.pickle"))) <= before:
        if time.monotonic() > deadline:
            raise TimeoutError("the gateway wrote no tracemalloc snapshot")
        time.sleep(0.1)
    time.sleep(1.0)  # the pickle is written in one go, but give it time to finish
    return sorted(folder.glob("*.pickle"))[-1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--first", type=int, default=1000)
    parser.add_argument("--more", type=int, default=2000)
    parser.add_argument("--top", type=int, default=8)
    args = parser.parse_args(argv)
    stub = StubLLM().start()
    home = Path(tempfile.mkdtemp(prefix="rustyclaw-growth-"))
    snaps = home / "snapshots"
    serve = ServeProcess(write_config(home, stub.base_url), home, module="benchmarks.traced_serve",
                         env={"RUSTYCLAW_TRACEMALLOC_DIR": str(snaps)})
    try:
        serve.start(timeout=300)
        http_load.chat_load("127.0.0.1", serve.port, sessions=SESSIONS, per_session=max(1, args.first // SESSIONS),
                            concurrency=20, stream=False, prefix="grow")
        first = snapshot(serve.pid, snaps)
        http_load.chat_load("127.0.0.1", serve.port, sessions=SESSIONS, per_session=max(1, args.more // SESSIONS),
                            concurrency=20, stream=False, prefix="grow")
        second = snapshot(serve.pid, snaps)
    finally:
        serve.stop()
        stub.stop()
    ignore = [tracemalloc.Filter(False, "<frozen importlib._bootstrap*>"),
              tracemalloc.Filter(False, tracemalloc.__file__)]
    old = tracemalloc.Snapshot.load(str(first)).filter_traces(ignore)
    new = tracemalloc.Snapshot.load(str(second)).filter_traces(ignore)
    total = sum(t.size for t in old.traces), sum(t.size for t in new.traces)
    per_thousand_kib = (total[1] - total[0]) / args.more * 1000 / 1024
    print(f"traced Python heap: {total[0] / 2**20:.2f} MB after {args.first} messages, "
          f"{total[1] / 2**20:.2f} MB after {args.more} more ({per_thousand_kib:.1f} KiB per 1,000 messages)")
    for stat in new.compare_to(old, "traceback")[: args.top]:
        print(f"{stat.size_diff / 1024:9.1f} KiB {stat.count_diff:+7d} blocks")
        for line in stat.traceback.format()[-6:]:
            print("      " + line.strip()[:150])
    return 0


if __name__ == "__main__":
    sys.exit(main())
