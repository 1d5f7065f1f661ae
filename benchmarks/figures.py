"""Figures that are not pytest-benchmark timings: memory, start time, latency percentiles, sizes.

Benchmarks record them through the ``figures`` fixture (benchmarks/conftest.py); at the end of the
run they are written to ``benchmarks/results/figures.json`` and added under ``"figures"`` to the
pytest-benchmark JSON (``--benchmark-json``), which is what ``check_floors.py`` reads.
"""

from __future__ import annotations

import json
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass(slots=True)
class Figure:
    """One measured value; ``budget`` is the design's target (for reports, not for failing)."""

    value: float
    unit: str
    budget: float | None = None
    note: str = ""


@dataclass(slots=True)
class Figures:
    """The run's figures by name, plus where and when they were measured."""

    values: dict[str, Figure] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)

    def record(self, name: str, value: float, unit: str, budget: float | None = None, note: str = "") -> None:
        self.values[name] = Figure(round(value, 4), unit, budget, note)

    def detail(self, name: str, value: Any) -> None:
        """Supporting data that is not a single figure (a ranked memory list, per-run samples)."""
        self.details[name] = value

    def as_json(self) -> dict[str, Any]:
        return {
            "machine": machine(),
            "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "figures": {name: asdict(figure) for name, figure in sorted(self.values.items())},
            "details": self.details,
        }

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.as_json(), indent=2) + "\n")


def machine() -> dict[str, Any]:
    import os

    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": _cpu_model(),
    }


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()
