"""`rustyclaw` under tracemalloc, for the memory-growth benchmark: SIGUSR1 writes a snapshot.

    python -m benchmarks.traced_serve serve --config ...   (same arguments as `python -m rustyclaw`)

The snapshot goes to `$RUSTYCLAW_TRACEMALLOC_DIR/snapshot-<n>.pickle` (n counts from 1), written by
a signal handler between two bytecodes of the main thread, so the gateway needs no hook of its own.
"""

from __future__ import annotations

import itertools
import os
import signal
import sys
import tracemalloc
from pathlib import Path
from types import FrameType

FRAMES = 8


def main() -> int:
    out = Path(os.environ["RUSTYCLAW_TRACEMALLOC_DIR"])
    out.mkdir(parents=True, exist_ok=True)
    numbers = itertools.count(1)

    def dump(signum: int, frame: FrameType | None) -> None:
        tracemalloc.take_snapshot().dump(str(out / f"snapshot-{next(numbers)}.pickle"))

    signal.signal(signal.SIGUSR1, dump)
    tracemalloc.start(FRAMES)
    from rustyclaw.cli import main as cli_main

    return cli_main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
