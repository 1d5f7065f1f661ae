"""Child processes for the gateway benchmarks: the instant LLM stub and `rustyclaw serve` itself.

Both run as real subprocesses of this interpreter (``python -m ...``), on 127.0.0.1 ports they
pick themselves, so the client, the gateway and the stub do not share a GIL. `/proc` gives the
gateway's memory.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
STUB_MODEL = "stub-model"


def proc_status(pid: int) -> dict[str, int]:
    """The ``Vm*``/``Rss*`` lines of ``/proc/<pid>/status`` in kB."""
    values: dict[str, int] = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            name, _, rest = line.partition(":")
            if name.startswith(("Vm", "Rss")):
                values[name] = int(rest.split()[0])
    return values


def rss_mb(pid: int) -> tuple[float, float]:
    """``(VmRSS, VmHWM)`` of a process in MB (MiB)."""
    status = proc_status(pid)
    return status["VmRSS"] / 1024, status["VmHWM"] / 1024


def http_get_status(host: str, port: int, path: str, timeout: float = 1.0) -> int | None:
    """The status code of a plain ``GET``, or None when nothing answers (a raw socket: cheap to poll)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(f"GET {path} HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\n\r\n".encode())
            head = sock.recv(64)
    except OSError:
        return None
    try:
        return int(head.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return None


class StubLLM:
    """``benchmarks.stub_llm`` in a child process."""

    def __init__(self) -> None:
        self.process: subprocess.Popen[str] | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self, timeout: float = 10.0) -> StubLLM:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.stub_llm", "--port", "0"],
            stdout=subprocess.PIPE, text=True, cwd=REPO,
        )
        assert self.process.stdout is not None
        deadline = time.monotonic() + timeout
        line = self.process.stdout.readline()
        if not line.startswith("port ") or time.monotonic() > deadline:
            self.stop()
            raise RuntimeError(f"the LLM stub did not start (said {line!r})")
        self.port = int(line.split()[1])
        return self

    def requests(self) -> list[dict[str, Any]]:
        """The last request bodies the stub received, oldest first."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
            sock.sendall(b"GET /_stub/requests HTTP/1.1\r\nhost: stub\r\n\r\n")
            data = b""
            while b"\r\n\r\n" not in data:
                data += sock.recv(65536)
            head, _, body = data.partition(b"\r\n\r\n")
            length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length")))
            while len(body) < length:
                body += sock.recv(65536)
        result: list[dict[str, Any]] = json.loads(body)
        return result

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


def write_config(state: Path, llm_base_url: str, **sections: dict[str, Any]) -> Path:
    """A JSON config for `rustyclaw serve`: SQLite, web channel, the stub as the only LLM, no embedded model."""
    config: dict[str, Any] = {
        "gateway": {"stateDir": str(state), "logLevel": "warning"},
        "agents": {"workspace": str(state / "workspace")},
        "llm": {
            "providers": {"stub": {"baseUrl": llm_base_url, "timeoutSeconds": 30}},
            "routes": {"default": {"primary": f"stub/{STUB_MODEL}"}},
            "embedded": {"enabled": False},
            "retry": {"attempts": 1},
        },
        "storage": {"backend": "sqlite"},
    }
    for name, values in sections.items():
        config.setdefault(name, {}).update(values)
    path = state / "config.json"
    path.write_text(json.dumps(config, indent=2))
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServeProcess:
    """`python -m rustyclaw serve` on a free loopback port; ``start`` returns spawn-to-ready seconds."""

    def __init__(
        self, config: Path, home: Path, python_args: tuple[str, ...] = (), python: str = sys.executable,
        module: str = "rustyclaw", env: dict[str, str] | None = None,
    ) -> None:
        self.module = module
        self.extra_env = dict(env or {})
        self.config = config
        self.home = home
        self.python = python
        self.python_args = python_args
        self.port = free_port()
        self.log_path = home / f"serve-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, timeout: float = 30.0, poll: float = 0.002) -> float:
        env = {**os.environ, "RUSTYCLAW_HOME": str(self.home), **self.extra_env}
        command = [self.python, *self.python_args, "-m", self.module, "serve", "--config", str(self.config),
                   "--port", str(self.port)]
        with open(self.log_path, "wb") as log:
            started = time.perf_counter()
            # The repository on the path, so that `-m benchmarks.<module>` works from the state folder.
            env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=self.home)
        while True:
            if http_get_status("127.0.0.1", self.port, "/readyz") == 200:
                return time.perf_counter() - started
            if self.process.poll() is not None:
                raise RuntimeError(f"rustyclaw serve exited with {self.process.returncode}:\n{self.log()}")
            if time.perf_counter() - started > timeout:
                self.stop()
                raise RuntimeError(f"rustyclaw serve was not ready within {timeout} s:\n{self.log()}")
            time.sleep(poll)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def stop(self) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.terminate()
        try:
            return self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()
