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
    from rustyclaw.adapters.storage.transfer import run_copy, run_import

    settings = load_settings(args.config)  # the same load and checks as every command
    cfg = settings.config
    state_dir = settings.state_dir
    if args.action == "copy":
        bar = ProgressBar(f"{args.source} -> {args.target}")
        report = anyio.run(lambda: run_copy(cfg.storage, state_dir, args.source, args.target, progress=bar))
    else:
        source = Path(args.path).expanduser()
        bar = ProgressBar(f"openclaw -> {args.target or cfg.storage.backend}")
        report = anyio.run(lambda: run_import(cfg.storage, state_dir, source, args.target, progress=bar))
    if report.layout:
        print(f"OpenClaw state layout: {report.layout}")
    for note in report.notes:
        print(f"not imported: {note}", file=sys.stderr)
    print(f"done, counts verified: {report.summary()}")
    return 0
