"""memory_search latency over 10,000 memory lines, against a plain linear scan in the same run; and
the cost of compaction in tokens.

- Search: 100 daily notes of 100 lines (`memory/YYYY-MM-DD.md`) indexed by the FTS5 index
  (adapters/memory/fts.py), queried through its real `search()` (which first checks every file for
  changes, so the incremental catch-up is part of the figure), against a linear scan that reads
  every line and ranks by matched query words. The figure is the ratio scan / index.
- Catch-up: a search right after one of the 100 files changed (that file is chunked again).
- Compaction cost: the tokens (cl100k) the summary requests send and ask for when a 2,000-message
  tool-using session is compacted, for a 4,096-token local model and the 128k default window,
  next to the context tokens before and after. The LLM is the benchmarks' instant stub server.
"""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal

from benchmarks import corpus
from benchmarks.figures import Figures
from benchmarks.processes import StubLLM
from rustyclaw.adapters.llm.openai_compat import OpenAICompatProvider
from rustyclaw.adapters.llm.routing import RetryPolicy, Route, RoutedLLM
from rustyclaw.adapters.memory.files import WorkspaceMemoryFiles
from rustyclaw.adapters.memory.fts import FtsMemoryIndex
from rustyclaw.adapters.tokenizer import make_tokenizer
from rustyclaw.domain.compaction import Budget, CompactionSettings, active_view
from rustyclaw.domain.compactor import Compactor
from rustyclaw.domain.context import ContextBuilder
from rustyclaw.domain.settings import PruningSettings
from rustyclaw.ports.memory import MemoryQuery

FILES = 100
LINES_PER_FILE = 100
QUERIES = ("invoice billing redesign", "driver winter peak", "Lisbon warehouse survey", "drawer 4711 locker")
_WORD = re.compile(r"\w+")


def _write_notes(root: Path) -> list[Path]:
    prose = [" ".join(s.split()) for s in corpus.english_text(400_000).split(". ") if s.strip()]
    paths = []
    folder = root / "memory"
    folder.mkdir(parents=True)
    line = 0
    for day in range(FILES):
        lines = []
        for _ in range(LINES_PER_FILE):
            lines.append(f"- {prose[line % len(prose)][:160].strip()}.")
            line += 1
        if day == 57:
            lines[40] = "- The spare key is in drawer 4711, next to the locker."
        path = folder / f"2025-{1 + day // 28:02d}-{1 + day % 28:02d}.md"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        paths.append(path)
    return paths


def linear_scan(paths: list[Path], query: str, limit: int = 6) -> list[tuple[int, str, int]]:
    """The baseline (a grep): read every line of every file, count the query words it contains
    (substring tests on the lower-cased line), keep the best."""
    words = [w.lower() for w in _WORD.findall(query)]
    scored: list[tuple[int, str, int]] = []
    for path in paths:
        with open(path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                low = line.lower()
                hits = sum(1 for w in words if w in low)
                if hits:
                    scored.append((hits, path.name, number))
    scored.sort(key=lambda item: -item[0])
    return scored[:limit]


@pytest.fixture(scope="module")
def portal() -> Iterator[BlockingPortal]:
    with start_blocking_portal() as running:
        yield running


@pytest.fixture(scope="module")
def notes(
    tmp_path_factory: pytest.TempPathFactory, portal: BlockingPortal
) -> Iterator[tuple[FtsMemoryIndex, list[Path]]]:
    root = tmp_path_factory.mktemp("memory-bench")
    paths = _write_notes(root / "workspace")
    index = FtsMemoryIndex(root / "state" / "index.sqlite", WorkspaceMemoryFiles(lambda agent: root / "workspace"))
    portal.call(index.start)
    portal.call(index.sync, "main", ("memory",))
    try:
        yield index, paths
    finally:
        portal.call(index.aclose)


def _search(portal: BlockingPortal, index: FtsMemoryIndex, text: str) -> Any:
    query = MemoryQuery(agent_id="main", text=text, sources=("memory",))
    return portal.call(index.search, query)


def test_memory_search_index(benchmark: Any, notes: tuple[FtsMemoryIndex, list[Path]], portal: BlockingPortal) -> None:
    benchmark.group = "memory-search-10k-lines"
    index, _ = notes
    found = benchmark(lambda: [_search(portal, index, q) for q in QUERIES])
    assert found[3][0].snippet.count("4711") == 1 and found[3][0].start_line <= 41 <= found[3][0].end_line


def test_memory_search_linear_scan(benchmark: Any, notes: tuple[FtsMemoryIndex, list[Path]]) -> None:
    benchmark.group = "memory-search-10k-lines"
    _, paths = notes
    found = benchmark(lambda: [linear_scan(paths, q) for q in QUERIES])
    assert found[3][0][2] == 41


def test_memory_search_ratio(notes: tuple[FtsMemoryIndex, list[Path]], portal: BlockingPortal,
                             figures: Figures) -> None:
    """Both ways timed in one loop, interleaved, so the ratio holds on a busy machine."""
    index, paths = notes
    fts: list[float] = []
    scan: list[float] = []
    for _ in range(15):
        started = time.perf_counter()
        for q in QUERIES:
            _search(portal, index, q)
        fts.append(time.perf_counter() - started)
        started = time.perf_counter()
        for q in QUERIES:
            linear_scan(paths, q)
        scan.append(time.perf_counter() - started)
    per_query_ms = statistics.median(fts) / len(QUERIES) * 1000
    ratio = statistics.median(scan) / statistics.median(fts)
    figures.record("memory_search_ms_10k_lines", per_query_ms, "ms",
                   note=f"FTS5 BM25 over {FILES * LINES_PER_FILE} lines in {FILES} files, change check included")
    figures.record("memory_search_vs_linear_scan", ratio, "x",
                   note="median linear-scan time / median index time, same run")

    target = paths[10]
    catch_up: list[float] = []
    for round_ in range(5):
        target.write_text(target.read_text(encoding="utf-8") + f"- edit {round_}\n", encoding="utf-8")
        started = time.perf_counter()
        _search(portal, index, "edit")
        catch_up.append(time.perf_counter() - started)
    figures.record("memory_search_after_one_file_changed_ms", statistics.median(catch_up) * 1000, "ms",
                   note="one changed file is chunked again before the search")


def _compaction_cost(stub: StubLLM, window: int) -> dict[str, int]:
    tokenizer = make_tokenizer("cl100k")
    context = ContextBuilder(tokenizer, PruningSettings())
    history = corpus.conversation(2000)
    for i, message in enumerate(history):
        message.id = f"m{i}"
    settings = CompactionSettings()
    budget = Budget.of(settings, window)
    llm = RoutedLLM({"stub": OpenAICompatProvider("stub", stub.base_url)}, {"default": Route("stub/m")},
                    RetryPolicy(attempts=1))
    compactor = Compactor(llm, context, settings)

    async def run() -> Any:
        try:
            return await compactor.compact(active_view(history), budget, 300)
        finally:
            await llm.aclose()

    entry, report = anyio.run(run)
    assert entry is not None and report.compacted
    sent = stub.requests()[-report.stages:]
    prompt = sum(tokenizer.count(m.get("content") or "") + 4 for body in sent for m in body["messages"])
    return {
        "window": window, "stages": report.stages, "messages_summarised": report.messages_summarised,
        "tokens_before": report.tokens_before, "tokens_after": report.tokens_after,
        "summary_prompt_tokens": prompt, "summary_max_tokens_asked": budget.summary_tokens * report.stages,
    }


def test_compaction_cost_in_tokens(gateway_stub_llm: StubLLM, figures: Figures) -> None:
    for window in (4096, 128_000):
        cost = _compaction_cost(gateway_stub_llm, window)
        figures.record(f"compaction_prompt_tokens_{window}", cost["summary_prompt_tokens"], "tokens",
                       note=f"{cost['stages']} summary stage(s) for {cost['messages_summarised']} messages; "
                            f"context {cost['tokens_before']} -> {cost['tokens_after']} tokens; "
                            f"completion bound {cost['summary_max_tokens_asked']}")
        figures.detail(f"compaction_cost_{window}", cost)
        assert cost["tokens_after"] < cost["tokens_before"]
