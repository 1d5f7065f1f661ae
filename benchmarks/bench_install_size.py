"""Installed size of the core install (budget <= 60 MB), through benchmarks/install_size.py, run once
with a timeout. Its JSON lands in benchmarks/results/install_size.json as well."""

from __future__ import annotations

import json
import subprocess
import sys

from benchmarks.figures import RESULTS, Figures
from benchmarks.processes import REPO

INSTALL_BUDGET_MB = 60.0
TIMEOUT_SECONDS = 300


def test_core_install_size(figures: Figures) -> None:
    output = RESULTS / "install_size.json"
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "install_size.py"), "--json", str(output)],
        capture_output=True, text=True, timeout=TIMEOUT_SECONDS, cwd=REPO,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(output.read_text())
    figures.record("core_install_mb", result["core_install_mb"], "MB", INSTALL_BUDGET_MB,
                   f"fresh venv site-packages {result['core_venv_site_packages_mb']} MB - empty venv "
                   f"{result['empty_venv_site_packages_mb']} MB")
    serve = result.get("clean_venv_serve")
    if serve:
        figures.record("clean_venv_idle_rss_mb", serve["idle_rss_mb"], "MB", 40.0,
                       "idle RSS of `rustyclaw serve` from the fresh core venv (no tiktoken, no uvloop)")
    figures.detail("install_size", result)
