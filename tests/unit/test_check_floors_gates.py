"""check_floors.py gates only what a noisy machine cannot move (issue #18): same-run ratios of two
figures (the gateway against the stub called directly), memory/size/count figures; an absolute time
is a report line, and a floor put on one fails with an explanation instead of gating on noise."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from benchmarks import check_floors

FLOORS = {
    "figure_ratios": {
        "gateway_vs_stub": {"numerator": "overhead_c1.gateway_p50_ms", "denominator": "overhead_c1.stub_p50_ms",
                            "max": 20},
        "speed_share": {"numerator": "fast_rps", "denominator": "slow_rps", "min": 2},
    },
    "figures": {"idle_rss_mb": {"max": 60}},
    "report": ["start_to_ready_s", "overhead_c1.gateway_p50_ms"],
}


def _results(tmp_path: Path, *, gateway_ms: float, figures: dict[str, dict[str, object]] | None = None) -> Path:
    recorded: dict[str, dict[str, object]] = {
        "idle_rss_mb": {"value": 50.0, "unit": "MB"},
        "start_to_ready_s": {"value": 9.9, "unit": "s"},
        "fast_rps": {"value": 900.0, "unit": "1/s"},
        "slow_rps": {"value": 300.0, "unit": "1/s"},
    }
    recorded.update(figures or {})
    details = {"overhead_c1": {"gateway_p50_ms": gateway_ms, "stub_p50_ms": 0.25, "ok": True}}
    path = tmp_path / "latest.json"
    path.write_text(json.dumps({"benchmarks": [], "figures": {"figures": recorded, "details": details}}))
    return path


def _run(
    tmp_path: Path, results: Path, floors: dict[str, object], capsys: pytest.CaptureFixture[str]
) -> tuple[int, str]:
    floors_path = tmp_path / "floors.json"
    floors_path.write_text(json.dumps(floors))
    status = check_floors.main([str(results), "--floors", str(floors_path)])
    return status, capsys.readouterr().out


def test_a_same_run_ratio_of_details_holds_and_a_slow_absolute_time_is_only_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out = _run(tmp_path, _results(tmp_path, gateway_ms=2.5), FLOORS, capsys)
    assert status == 0, out
    assert re.search(r"ok\s+ratio\s+gateway_vs_stub\s+10\b", out), out
    assert re.search(r"ok\s+ratio\s+speed_share\s+3\b", out), out
    # 9.9 s to start is far from any budget, yet it is printed and does not fail the run
    assert re.search(r"report\s+report\s+start_to_ready_s\s+9\.9\s+s \(reported, not a gate\)", out), out
    assert "all floors hold" in out


def test_a_ratio_past_its_limit_fails_and_names_both_sides(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out = _run(tmp_path, _results(tmp_path, gateway_ms=7.5), FLOORS, capsys)
    assert status == 1
    assert "gateway_vs_stub = 30 (needs <= 20x (overhead_c1.gateway_p50_ms / overhead_c1.stub_p50_ms))" in out


def test_a_missing_side_of_a_ratio_fails_unless_allowed(tmp_path: Path) -> None:
    checks = check_floors.evaluate(FLOORS, {}, {"overhead_c1.stub_p50_ms": 0.25})
    missing = [c for c in checks if c.name == "gateway_vs_stub"]
    assert missing and missing[0].value is None and not missing[0].ok
    relaxed = check_floors.evaluate(FLOORS, {}, {}, allow_missing=True)
    assert all(c.ok for c in relaxed if c.kind == "ratio")


def test_a_floor_on_an_absolute_time_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    floors = {**FLOORS, "figures": {"idle_rss_mb": {"max": 60}, "start_to_ready_s": {"max": 100}}}
    status, out = _run(tmp_path, _results(tmp_path, gateway_ms=2.5), floors, capsys)
    assert status == 1  # even though 9.9 s <= 100: a time is not a gate
    assert "start_to_ready_s" in out and "is an absolute time: make it a figure_ratios entry or a report line" in out


def test_details_are_read_as_dotted_paths_and_booleans_are_not_numbers() -> None:
    values = check_floors.figure_values({"figures": {"a": {"value": 1}},
                                         "details": {"b": {"c": 2, "d": True, "e": [1, 2]}, "f": 3.5}})
    assert values == {"a": 1.0, "b.c": 2.0, "f": 3.5}


TIME_SUFFIXES = ("_s", "_ms", "_us", "_ns")


def test_the_committed_floors_gate_no_absolute_time() -> None:
    floors = json.loads(check_floors.DEFAULT_FLOORS.read_text())
    for name in floors["figures"]:
        assert not any(part.endswith(TIME_SUFFIXES) for part in name.split(".")), name
    for name, spec in floors["figure_ratios"].items():
        assert spec["numerator"] != spec["denominator"], name
        assert ("max" in spec) != ("min" in spec), name
    assert "overhead_json_paced100_p50_ms" not in floors["figures"]
