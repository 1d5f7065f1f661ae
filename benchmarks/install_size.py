"""Installed size of the core install (no extras) in a fresh venv, and its idle RSS.

    python benchmarks/install_size.py [--json benchmarks/results/install_size.json] [--no-serve]

1. ``python -m venv`` an empty venv and measure its site-packages (pip, setuptools);
2. ``python -m venv`` another and ``pip install <repo>`` with no extras (a regular, non-editable
   install; the build runs isolated unless that fails, then ``--no-build-isolation`` is tried);
3. core size = its site-packages minus the empty one's, in MiB of file sizes, with the largest
   distributions listed;
4. unless ``--no-serve``: start that venv's ``rustyclaw serve`` against the instant LLM stub and read
   its idle RSS (the clean install has no tiktoken, so the gateway counts with the estimator).

Writes one JSON object; exits non-zero when an install step fails.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.processes import REPO, ServeProcess, StubLLM, rss_mb, write_config

MIB = 1024 * 1024
IDLE_SETTLE_SECONDS = 2.0
INSTALL_TIMEOUT_SECONDS = 600


def tree_bytes(folder: Path) -> int:
    """Sum of the sizes of the regular files under ``folder`` (symlinks not followed)."""
    return sum(p.lstat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def site_packages(venv: Path) -> Path:
    found = sorted(venv.glob("lib/python3*/site-packages"))
    if not found:
        raise RuntimeError(f"no site-packages under {venv}")
    return found[0]


def top_level_sizes(folder: Path) -> dict[str, float]:
    """MiB per top-level entry of site-packages (packages, modules, .dist-info folders folded in)."""
    sizes: dict[str, int] = {}
    for entry in folder.iterdir():
        name = entry.name
        if name.endswith((".dist-info", ".egg-info")):
            name = name.split("-", 1)[0]
        size = tree_bytes(entry) if entry.is_dir() else entry.lstat().st_size
        key = name.lower().replace("_", "-").removesuffix(".py")
        sizes[key] = sizes.get(key, 0) + size
    return {k: round(v / MIB, 2) for k, v in sorted(sizes.items(), key=lambda kv: -kv[1])}


def make_venv(path: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True, timeout=120)
    return path / "bin" / "python"


def pip_install(python: Path, target: Path) -> list[str]:
    base = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    attempts = [[*base, str(target)], [*base, "--no-build-isolation", str(target)]]
    for command in attempts:
        done = subprocess.run(command, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_SECONDS)
        if done.returncode == 0:
            return command[len(base) :]
        print(f"install_size: {' '.join(command[3:])} failed:\n{done.stderr[-2000:]}", file=sys.stderr)
    raise RuntimeError("pip install of the core package failed (see above)")


def idle_rss(python: Path, work: Path) -> dict[str, float]:
    stub = StubLLM().start()
    home = work / "serve-home"
    home.mkdir()
    serve = ServeProcess(write_config(home, stub.base_url), home, python=str(python))
    try:
        ready = serve.start()
        time.sleep(IDLE_SETTLE_SECONDS)
        rss, hwm = rss_mb(serve.pid)
    finally:
        serve.stop()
        stub.stop()
    return {"start_to_ready_s": round(ready, 4), "idle_rss_mb": round(rss, 2), "idle_hwm_mb": round(hwm, 2)}


def measure(work: Path, serve: bool) -> dict[str, Any]:
    started = time.perf_counter()
    make_venv(work / "empty")
    empty = tree_bytes(site_packages(work / "empty"))
    core_python = make_venv(work / "core")
    how = pip_install(core_python, REPO)
    core_site = site_packages(work / "core")
    core = tree_bytes(core_site)
    result: dict[str, Any] = {
        "core_install_mb": round((core - empty) / MIB, 2),
        "empty_venv_site_packages_mb": round(empty / MIB, 2),
        "core_venv_site_packages_mb": round(core / MIB, 2),
        "pip_arguments": how,
        "largest": dict(list(top_level_sizes(core_site).items())[:15]),
    }
    if serve:
        result["clean_venv_serve"] = idle_rss(core_python, work)
    result["seconds"] = round(time.perf_counter() - started, 1)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Installed size of RustyClaw's core install.")
    parser.add_argument("--json", type=Path, help="write the result here as well as to stdout")
    parser.add_argument("--no-serve", action="store_true", help="skip the idle RSS of the fresh install")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="rustyclaw-install-size-") as tmp:
        result = measure(Path(tmp), serve=not args.no_serve)
    text = json.dumps(result, indent=2)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
