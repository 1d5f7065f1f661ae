"""What the idle `rustyclaw serve` holds in memory, ranked: which imports cost what, and who imports them.

    python benchmarks/import_costs.py [--json benchmarks/results/import_costs.json] [--top 25]

1. Starts `python -X importtime -m rustyclaw serve` (SQLite, web, the instant LLM stub), waits for
   `/readyz` and 2 s more, reads its RSS and stops it; the importtime log lists every module the idle
   gateway imported, as a tree.
2. A fresh interpreter imports those modules in the same order and reads its RSS after each one;
   the increments are summed per group: a third-party or standard-library top-level package
   (``granian``, ``pydantic``, ``ssl``...) or a first-party module (``rustyclaw.config.schema``).
3. The top groups are also imported alone into an interpreter that has imported asyncio (which
   every asyncio program pays for): the "alone" column, what that group costs with its own
   dependencies, an upper bound of what making it lazy could save.
4. Each group is attributed to the first-party module that first imported it (the nearest
   ``rustyclaw.*`` ancestor in the import tree), so the list says where to make an import lazy.

What is left of the idle RSS after all imports is the running state (threads, the SQLite
connection, granian's worker, buffers).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.processes import REPO, ServeProcess, StubLLM, rss_mb, write_config

FIRST_PARTY = "rustyclaw"
_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \| (\s*)(\S+)")


@dataclass(slots=True)
class ImportEntry:
    """One line of ``-X importtime``: self and cumulative microseconds, nesting depth, module name."""

    self_us: int
    cumulative_us: int
    depth: int
    name: str
    parent: int | None = None


def parse_importtime(text: str) -> list[ImportEntry]:
    """The entries of an importtime log in their (post-)order, each with the index of its parent.

    importtime prints a module when its import finishes, indented two spaces per nesting level, so
    a module's parent is the next entry with a smaller depth.
    """
    entries: list[ImportEntry] = []
    for line in text.splitlines():
        match = _LINE.match(line)
        if match:
            depth = len(match.group(3)) // 2
            entries.append(ImportEntry(int(match.group(1)), int(match.group(2)), depth, match.group(4)))
    waiting: list[int] = []  # indices whose parent has not been printed yet, deepest last
    for index, entry in enumerate(entries):
        while waiting and entries[waiting[-1]].depth > entry.depth:
            entries[waiting.pop()].parent = index
        waiting.append(index)
    return entries


def group_of(module: str) -> str:
    """Third-party and stdlib modules group by top-level package; first-party ones by module."""
    if module == FIRST_PARTY or module.startswith(FIRST_PARTY + "."):
        return module
    return module.split(".", 1)[0]


def importer_of(entries: list[ImportEntry], index: int) -> str:
    """The nearest first-party ancestor of an entry, or a note when there is none."""
    parent = entries[index].parent
    while parent is not None:
        name = entries[parent].name
        if name.startswith(FIRST_PARTY + "."):
            return name
        parent = entries[parent].parent
    top = index
    while entries[top].parent is not None:
        top = entries[top].parent  # type: ignore[assignment]
    if entries[top].name.startswith(FIRST_PARTY):
        return entries[top].name
    return "(imported inside a function at run time)" if entries[top].name != "site" else "(interpreter start: site)"


# Both replays install rustyclaw.import_guards first, as `rustyclaw serve` does, so that a package
# imported here loads what it loads in the gateway (granian without uvloop and watchfiles).
_MEASURE = r"""
import importlib, json, sys
from rustyclaw import import_guards
import_guards.install()
def rss():
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmRSS'):
                return int(line.split()[1])
modules = json.loads(sys.stdin.read())
# importtime also logs the attempts the guards turned away (uvloop, watchfiles, trio): not loaded in serve.
hidden = {name for names in import_guards.HIDDEN_DURING.values() for name in names}
out = {'start_kb': rss(), 'steps': []}
previous = out['start_kb']
for name in modules:
    if name in sys.modules or name.split('.')[0] in hidden:
        continue
    try:
        importlib.import_module(name)
    except Exception:
        continue
    now = rss()
    out['steps'].append([name, now - previous])
    previous = now
out['end_kb'] = previous
print(json.dumps(out))
"""


def measure_increments(python: str, modules: list[str]) -> dict[str, Any]:
    done = subprocess.run([python, "-c", _MEASURE], input=json.dumps(modules), capture_output=True,
                          text=True, check=True, cwd=REPO, timeout=120)
    result: dict[str, Any] = json.loads(done.stdout)
    return result


_ALONE = r"""
import importlib, sys
from rustyclaw import import_guards
import_guards.install()
def rss():
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmRSS'):
                return int(line.split()[1])
import asyncio  # every asyncio program pays for it (and for ssl, which asyncio imports)
before = rss()
importlib.import_module(sys.argv[1])
print(rss() - before)
"""


def alone_mb(python: str, module: str) -> float | None:
    """RSS a module adds on its own (with its dependencies) to an interpreter that imported asyncio."""
    done = subprocess.run([python, "-c", _ALONE, module], capture_output=True, text=True, cwd=REPO, timeout=60)
    if done.returncode != 0:
        return None
    return round(int(done.stdout) / 1024, 2)


def serve_importtime(python: str, work: Path) -> tuple[float, str]:
    """Idle RSS (MB) of `rustyclaw serve -X importtime` and its importtime log."""
    stub = StubLLM().start()
    try:
        serve = ServeProcess(write_config(work, stub.base_url), work, python_args=("-X", "importtime"), python=python)
        serve.start()
        try:
            time.sleep(2.0)
            rss, _ = rss_mb(serve.pid)
        finally:
            serve.stop()
        return rss, serve.log_path.read_text(errors="replace")
    finally:
        stub.stop()


def analyse(python: str = sys.executable, alone_top: int = 15) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="rustyclaw-import-costs-") as tmp:
        idle_mb, log = serve_importtime(python, Path(tmp))
    entries = parse_importtime(log)
    modules = [e.name for e in entries]
    measured = measure_increments(python, modules)
    first_index: dict[str, int] = {}
    for index, entry in enumerate(entries):
        first_index.setdefault(group_of(entry.name), index)
    cumulative_us: dict[str, int] = {}
    for entry in entries:
        group = group_of(entry.name)
        cumulative_us[group] = cumulative_us.get(group, 0) + entry.self_us
    kb: dict[str, int] = {}
    for name, delta in measured["steps"]:
        kb[group_of(name)] = kb.get(group_of(name), 0) + delta
    ranked = sorted(kb.items(), key=lambda kv: -kv[1])
    rows = [
        {
            "group": group,
            "rss_mb": round(delta / 1024, 2),
            "import_ms": round(cumulative_us.get(group, 0) / 1000, 1),
            "first_imported_by": importer_of(entries, first_index[group]) if group in first_index else "?",
        }
        for group, delta in ranked
    ]
    for row in rows[:alone_top]:
        row["alone_mb"] = alone_mb(python, str(row["group"]))
    imports_mb = (measured["end_kb"] - measured["start_kb"]) / 1024
    return {
        "idle_rss_mb": round(idle_mb, 2),
        "interpreter_start_mb": round(measured["start_kb"] / 1024, 2),
        "imports_mb": round(imports_mb, 2),
        "running_state_mb": round(idle_mb - measured["end_kb"] / 1024, 2),
        "modules": len(modules),
        "ranked": rows,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Ranked memory cost of the idle gateway's imports.")
    parser.add_argument("--json", type=Path, help="write the full result here")
    parser.add_argument("--python", default=sys.executable, help="interpreter whose rustyclaw to measure")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args(argv)
    result = analyse(args.python)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"idle RSS {result['idle_rss_mb']} MB = interpreter {result['interpreter_start_mb']} MB "
          f"+ imports {result['imports_mb']} MB + running state {result['running_state_mb']} MB "
          f"({result['modules']} modules)")
    print(f"{'group':40} {'MB':>6} {'alone':>6} {'ms':>7}  first imported by")
    for row in result["ranked"][: args.top]:
        alone = row.get("alone_mb")
        alone_text = "" if alone is None else f"{alone:.2f}"
        print(f"{row['group']:40} {row['rss_mb']:6.2f} {alone_text:>6} {row['import_ms']:7.1f}  "
              f"{row['first_imported_by']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
