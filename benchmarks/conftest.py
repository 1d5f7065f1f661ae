"""Benchmark suite plumbing: collects ``bench_*.py``, records figures, provides the LLM stub.

Fixtures (names prefixed so that other benchmark modules' own fixtures do not collide):
- ``figures`` (session): a ``benchmarks.figures.Figures``; what is recorded there lands in
  ``benchmarks/results/figures.json`` and under ``"figures"`` in the ``--benchmark-json`` file.
- ``gateway_stub_llm`` (session): an instant OpenAI-compatible server in a child process.
- ``gateway_home`` (function): a fresh state folder for one `rustyclaw serve`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from benchmarks.figures import RESULTS, Figures
from benchmarks.processes import StubLLM

_FIGURES = pytest.StashKey[Figures]()


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Module | None:
    # Benchmark modules are named bench_*.py so that the unit-test run never picks them up.
    # A file named on the command line is collected by pytest's own python plugin already.
    if file_path.suffix == ".py" and file_path.name.startswith("bench_") and not parent.session.isinitpath(file_path):
        module: pytest.Module = pytest.Module.from_parent(parent, path=file_path)
        return module
    return None


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_FIGURES] = Figures()


def pytest_benchmark_update_json(config: pytest.Config, benchmarks: Any, output_json: dict[str, Any]) -> None:
    figures = config.stash.get(_FIGURES, None)
    if figures is not None:
        output_json["figures"] = figures.as_json()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    figures = session.config.stash.get(_FIGURES, None)
    if figures is not None and figures.values:
        figures.write(RESULTS / "figures.json")


@pytest.fixture(scope="session")
def figures(pytestconfig: pytest.Config) -> Figures:
    return pytestconfig.stash[_FIGURES]


@pytest.fixture(scope="session")
def gateway_stub_llm() -> Iterator[StubLLM]:
    stub = StubLLM().start()
    try:
        yield stub
    finally:
        stub.stop()


@pytest.fixture
def gateway_home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    return home
