"""Fails CI when a benchmark ratio falls below its floor or a figure passes its limit.

    python benchmarks/check_floors.py benchmarks/results/latest.json [--floors benchmarks/floors.json]
                                      [--allow-missing]

Reads the pytest-benchmark JSON (``--benchmark-json``) and the figures the suite recorded (its
``"figures"`` key, or ``figures.json`` next to it).

CI gates only what a noisy shared machine cannot move: ratios of two things measured in the same
run (compiled vs its twin, the gateway vs the stub called directly, RustyClaw vs a library) and
non-time figures (memory, sizes, token counts). An absolute time (a latency, a start time) moves
with whatever else the machine is doing, so it is printed and kept in the results, never a gate:
a ``figures`` floor on a figure recorded in a time unit fails with that explanation.
``floors.json`` holds:

- ``ratios``: ``{"name": {"slow": <benchmark>, "fast": <benchmark>, "min": X}}``; the ratio is
  ``median(slow) / median(fast)`` (how many times faster ``fast`` is) and must be ``>= min``.
  Benchmarks are named as pytest-benchmark names them (``test_estimate[english-c]``).
- ``figure_ratios``: ``{"name": {"numerator": <ref>, "denominator": <ref>, "max": X}}`` (or
  ``"min"``) on ``numerator / denominator``, two values of the same run. A ``<ref>`` is a figure's
  name or a dotted path into the figures' ``details`` (``overhead_json_c1.gateway_p50_ms``).
- ``figures``: ``{"name": {"max": X}}`` or ``{"min": X}`` on a recorded figure that is not a time.
- ``report``: a list of ``<ref>``s printed with their values and never failing (absolute times).
- ``budgets``: the design's targets, ``{"name": {"max": X}}`` on a figure or on a benchmark's median
  in milliseconds (``{"benchmark": <name>, "max_ms": X}``); printed, never failing: they are where
  the project wants to be, the floors are what CI holds it to today.

Exit status: 0 when every floor holds, 1 when one does not (or when a floored value is missing and
``--allow-missing`` is not given), 2 on unreadable input.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_FLOORS = Path(__file__).resolve().parent / "floors.json"
# Units of absolute times (benchmarks/figures.py records a unit with every figure): never a gate.
TIME_UNITS = frozenset({"s", "ms", "us", "ns"})


@dataclass(frozen=True, slots=True)
class Check:
    """One comparison: what was measured, against what limit, and whether it holds."""

    kind: str  # "ratio", "figure", "report" or "budget"
    name: str
    value: float | None
    limit: str
    ok: bool
    enforced: bool

    def line(self) -> str:
        value = "missing" if self.value is None else f"{self.value:,.4g}"
        if self.kind == "report":
            status = "report"
        elif self.ok:
            status = "ok"
        elif self.enforced:
            status = "FAIL"
        else:
            status = "missing" if self.value is None else "over budget"
        return f"  {status:12} {self.kind:7} {self.name:44} {value:>12}  {self.limit}"


def medians(benchmark_json: dict[str, Any]) -> dict[str, float]:
    """Median seconds of each benchmark, by its name (``fullname`` too, for names that repeat)."""
    out: dict[str, float] = {}
    for bench in benchmark_json.get("benchmarks", []):
        median = float(bench["stats"]["median"])
        out[bench["name"]] = median
        out[bench["fullname"]] = median
    return out


def figure_values(figures_json: dict[str, Any]) -> dict[str, float]:
    """Each figure by name, plus every number in ``details`` by its dotted path (``a.b``)."""
    values = {name: float(f["value"]) for name, f in figures_json.get("figures", {}).items()}

    def walk(prefix: str, node: Any) -> None:
        if isinstance(node, bool):
            return
        if isinstance(node, int | float):
            values.setdefault(prefix, float(node))
        elif isinstance(node, dict):
            for key, child in node.items():
                walk(f"{prefix}.{key}" if prefix else str(key), child)

    walk("", figures_json.get("details", {}))
    return values


def figure_units(figures_json: dict[str, Any]) -> dict[str, str]:
    return {name: str(f.get("unit", "")) for name, f in figures_json.get("figures", {}).items()}


def _bound(spec: dict[str, Any], value: float) -> tuple[bool, str]:
    if "max" in spec:
        return value <= spec["max"], f"<= {spec['max']}"
    if "min" in spec:
        return value >= spec["min"], f">= {spec['min']}"
    raise ValueError(f"a limit needs 'max' or 'min': {spec}")


def evaluate(
    floors: dict[str, Any],
    timings: dict[str, float],
    figures: dict[str, float],
    *,
    allow_missing: bool = False,
    units: dict[str, str] | None = None,
) -> list[Check]:
    """Every check of ``floors`` against the measured ``timings`` (medians, s) and ``figures``
    (``units``: each figure's unit, which refuses an absolute time as a gate)."""
    units = units or {}
    checks: list[Check] = []
    for name, spec in floors.get("ratios", {}).items():
        slow, fast = timings.get(spec["slow"]), timings.get(spec["fast"])
        limit = f">= {spec['min']}x ({spec['fast']} vs {spec['slow']})"
        if slow is None or fast is None or fast <= 0:
            checks.append(Check("ratio", name, None, limit, allow_missing, True))
            continue
        ratio = slow / fast
        checks.append(Check("ratio", name, ratio, limit, ratio >= spec["min"], True))
    for name, spec in floors.get("figure_ratios", {}).items():
        numerator, denominator = figures.get(spec["numerator"]), figures.get(spec["denominator"])
        bound = _bound(spec, 0)[1]
        limit = f"{bound}x ({spec['numerator']} / {spec['denominator']})"
        if numerator is None or denominator is None or denominator <= 0:
            checks.append(Check("ratio", name, None, limit, allow_missing, True))
            continue
        ratio = numerator / denominator
        checks.append(Check("ratio", name, ratio, limit, _bound(spec, ratio)[0], True))
    for name, spec in floors.get("figures", {}).items():
        value = figures.get(name)
        if units.get(name) in TIME_UNITS:
            checks.append(Check("figure", name, value, f"{units[name]} is an absolute time: make it a "
                                "figure_ratios entry or a report line, not a gate", False, True))
            continue
        if value is None:
            checks.append(Check("figure", name, None, _bound(spec, 0)[1], allow_missing, True))
            continue
        ok, limit = _bound(spec, value)
        checks.append(Check("figure", name, value, limit, ok, True))
    for ref in floors.get("report", []):
        value = figures.get(ref)
        unit = units.get(ref, "")
        checks.append(Check("report", ref, value, f"{unit} (reported, not a gate)".strip(), True, False))
    for name, spec in floors.get("budgets", {}).items():
        if "benchmark" in spec:
            seconds = timings.get(spec["benchmark"])
            value = None if seconds is None else seconds * 1000
            limit = f"<= {spec['max_ms']} ms (median of {spec['benchmark']})"
            checks.append(Check("budget", name, value, limit, value is not None and value <= spec["max_ms"], False))
            continue
        value = figures.get(name)
        if value is None:
            checks.append(Check("budget", name, None, _bound(spec, 0)[1], False, False))
            continue
        ok, limit = _bound(spec, value)
        checks.append(Check("budget", name, value, limit, ok, False))
    return checks


def load_inputs(path: Path) -> tuple[dict[str, float], dict[str, float], dict[str, str]]:
    """Benchmark medians, figures and their units from a pytest-benchmark JSON (figures.json beside
    it as fallback)."""
    data = json.loads(path.read_text())
    figures_json = data.get("figures")
    if figures_json is None:
        beside = path.parent / "figures.json"
        figures_json = json.loads(beside.read_text()) if beside.exists() else {}
    return medians(data), figure_values(figures_json), figure_units(figures_json)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Check benchmark results against the committed floors.")
    parser.add_argument("results", type=Path, help="pytest-benchmark JSON (--benchmark-json output)")
    parser.add_argument("--floors", type=Path, default=DEFAULT_FLOORS)
    parser.add_argument("--allow-missing", action="store_true",
                        help="do not fail on floors whose benchmark or figure was not run")
    args = parser.parse_args(argv)
    try:
        floors = json.loads(args.floors.read_text())
        timings, figures, units = load_inputs(args.results)
    except (OSError, ValueError) as exc:
        print(f"check_floors: cannot read the inputs: {exc}", file=sys.stderr)
        return 2
    checks = evaluate(floors, timings, figures, allow_missing=args.allow_missing, units=units)
    print(f"check_floors: {args.results} against {args.floors}")
    for check in checks:
        print(check.line())
    failed = [c for c in checks if c.enforced and not c.ok]
    over = [c for c in checks if not c.enforced and not c.ok and c.value is not None]
    if over:
        print(f"{len(over)} figure(s) over the design budget (reported, not failing): "
              + ", ".join(c.name for c in over))
    if failed:
        print(f"FAILED: {len(failed)} floor(s) not met: " + "; ".join(
            f"{c.name} = {'missing' if c.value is None else f'{c.value:,.4g}'} (needs {c.limit})" for c in failed))
        return 1
    print("all floors hold")
    return 0


if __name__ == "__main__":
    sys.exit(main())
