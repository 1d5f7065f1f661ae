"""`rustyclaw storage copy --from B --to B` and `rustyclaw storage import-openclaw [PATH]`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import anyio

from rustyclaw.settings import load_settings


class ProgressBar:
    """A one-line bar on stderr, redrawn in place; silent when stderr is not a terminal."""

    def __init__(self, label: str, width: int = 30) -> None:
        self._label = label
        self._width = width
        self._tty = sys.stderr.isatty()

    def __call__(self, done: int, total: int) -> None:
        if not self._tty:
            return
        filled = self._width * done // total if total else self._width
        bar = "#" * filled + "-" * (self._width - filled)
        sys.stderr.write(f"\r{self._label} [{bar}] {done}/{total} transcripts")
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def run_storage(args: argparse.Namespace) -> int:
    from rustyclaw.adapters.storage.transfer import CopyReport, copy_store, import_openclaw
    from rustyclaw.app import bootstrap
    from rustyclaw.domain.errors import StorageError

    settings = load_settings(args.config)  # the same load and checks as every command
    source = Path(args.path).expanduser() if args.action != "copy" else None

    async def copy() -> CopyReport:
        if args.source == args.target:
            raise StorageError(f"--from and --to are both {args.source!r}; pick two different backends")
        bar = ProgressBar(f"{args.source} -> {args.target}")
        # Each side is a store root of its own: started in order, both closed whatever happens.
        async with bootstrap(settings, "store", backend=args.source) as src, \
                bootstrap(settings, "store", backend=args.target) as dst:
            return await copy_store(src.store, dst.store, bar, resume=True)

    async def import_state() -> CopyReport:
        assert source is not None
        bar = ProgressBar(f"openclaw -> {args.target or settings.config.storage.backend}")
        async with bootstrap(settings, "store", backend=args.target) as dst:
            return await import_openclaw(source, dst.store, bar)

    report = anyio.run(copy if args.action == "copy" else import_state)
    if report.layout:
        print(f"OpenClaw state layout: {report.layout}")
    for note in report.notes:
        print(f"not imported: {note}", file=sys.stderr)
    print(f"done, counts verified: {report.summary()}")
    return 0
