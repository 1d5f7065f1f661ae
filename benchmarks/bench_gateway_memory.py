"""Resident memory of `rustyclaw serve` (web + SQLite, no voice, LLM = instant stub): idle, after the
first message, after 1,000 messages. Figures only; the budget (idle <= 40 MB) is reported, not asserted.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from benchmarks import http_load, import_costs
from benchmarks.figures import Figures
from benchmarks.processes import ServeProcess, StubLLM, rss_mb, write_config

IDLE_SETTLE_SECONDS = 2.0
IDLE_RSS_BUDGET_MB = 40.0
RSS_AFTER_MESSAGES_BUDGET_MB = 45.0


def child_pids(pid: int) -> list[int]:
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        children.extend(int(child) for child in text)
    return children


def python_baseline_rss_mb() -> float:
    """RSS of a bare interpreter of this environment (site-packages' .pth imports included)."""
    code = "print(next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmRSS')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return int(out) / 1024


def test_serve_memory(gateway_stub_llm: StubLLM, gateway_home: Path, figures: Figures) -> None:
    serve = ServeProcess(write_config(gateway_home, gateway_stub_llm.base_url), gateway_home)
    serve.start()
    try:
        time.sleep(IDLE_SETTLE_SECONDS)
        # The figure is only the gateway's if nothing was spawned (no embedded llama.cpp child).
        assert child_pids(serve.pid) == [], "rustyclaw serve started a child process; idle RSS would miss it"
        idle, idle_hwm = rss_mb(serve.pid)

        http_load.chat_load("127.0.0.1", serve.port, sessions=1, per_session=1, concurrency=1,
                            stream=False, prefix="mem-first")
        time.sleep(0.5)
        first, first_hwm = rss_mb(serve.pid)

        # 999 more: 37 sessions of 27 messages, 9 or 10 at a time, half of them streamed.
        http_load.chat_load("127.0.0.1", serve.port, sessions=18, per_session=27, concurrency=9,
                            stream=False, prefix="mem-json")
        http_load.chat_load("127.0.0.1", serve.port, sessions=19, per_session=27, concurrency=10,
                            stream=True, prefix="mem-sse")
        time.sleep(0.5)
        after, after_hwm = rss_mb(serve.pid)

        # 9,000 more, to 10,000: 100 sessions of 90 messages, 20 at a time (memory must stay flat).
        http_load.chat_load("127.0.0.1", serve.port, sessions=100, per_session=90, concurrency=20,
                            stream=False, prefix="mem-10k")
        time.sleep(0.5)
        after_10k, after_10k_hwm = rss_mb(serve.pid)
    finally:
        serve.stop()

    baseline = python_baseline_rss_mb()
    figures.record("idle_rss_mb", idle, "MB", IDLE_RSS_BUDGET_MB, "VmRSS 2 s after /readyz")
    figures.record("idle_hwm_mb", idle_hwm, "MB", None, "VmHWM (peak) up to idle")
    figures.record("rss_after_first_message_mb", first, "MB", None,
                   "httpx loads here (tiktoken only for a session near its budget)")
    figures.record("hwm_after_first_message_mb", first_hwm, "MB")
    figures.record("rss_after_1000_messages_mb", after, "MB", RSS_AFTER_MESSAGES_BUDGET_MB,
                   "1,000 messages over 38 sessions")
    figures.record("hwm_after_1000_messages_mb", after_hwm, "MB")
    figures.record("rss_after_10000_messages_mb", after_10k, "MB", RSS_AFTER_MESSAGES_BUDGET_MB,
                   "9,000 more over 100 sessions")
    figures.record("hwm_after_10000_messages_mb", after_10k_hwm, "MB")
    figures.record("rss_growth_1000_to_10000_mb", after_10k - after, "MB", 0.0,
                   "what 9,000 more messages added (the budget is flat)")
    figures.record("python_baseline_rss_mb", baseline, "MB", None,
                   "a bare `python -c` of the same environment, for scale")


def test_idle_import_costs(figures: Figures) -> None:
    """The ranked list of what the idle gateway's imports cost (see benchmarks/import_costs.py)."""
    result = import_costs.analyse(alone_top=12)
    assert result["ranked"], "no imports were measured"
    figures.record("idle_imports_mb", result["imports_mb"], "MB", None,
                   f"of an idle RSS of {result['idle_rss_mb']} MB; interpreter {result['interpreter_start_mb']} MB, "
                   f"running state {result['running_state_mb']} MB")
    figures.detail("idle_import_costs", {**result, "ranked": result["ranked"][:20]})
