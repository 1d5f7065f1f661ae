"""Start to ready: process spawn to the first 200 on `/readyz` (median of 5 cold starts), and the time
of `rustyclaw --help`. Figures only; the budget (0.5 s) is reported, not asserted.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.figures import Figures
from benchmarks.processes import ServeProcess, StubLLM, write_config

RUNS = 5
START_BUDGET_SECONDS = 0.5


def test_start_to_ready(gateway_stub_llm: StubLLM, tmp_path: Path, figures: Figures) -> None:
    samples: list[float] = []
    for run in range(RUNS):
        home = tmp_path / f"home{run}"
        home.mkdir()
        serve = ServeProcess(write_config(home, gateway_stub_llm.base_url), home)
        try:
            samples.append(serve.start())
        finally:
            assert serve.stop() == 0, serve.log()
    figures.record("start_to_ready_s", statistics.median(samples), "s", START_BUDGET_SECONDS,
                   f"median of {RUNS} spawns of `python -m rustyclaw serve` (fresh state each)")
    figures.detail("start_to_ready_samples_s", [round(s, 4) for s in samples])


def test_cli_help(figures: Figures) -> None:
    samples: list[float] = []
    for _ in range(RUNS):
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "rustyclaw", "--help"], capture_output=True, text=True)
        samples.append(time.perf_counter() - started)
        assert done.returncode == 0 and "serve" in done.stdout, done.stderr
    figures.record("cli_help_s", statistics.median(samples), "s", None, f"median of {RUNS} runs")
