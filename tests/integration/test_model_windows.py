"""ServerWindowProbe against stand-ins that answer like llama.cpp's server (`/props`), Ollama
(`/api/show`, `/api/ps`) and vLLM (`/v1/models` with `max_model_len`), and the overflow errors the
real servers send. (Neither llama.cpp's C++ server nor Ollama runs here; llama-cpp-python's server,
which exposes no window, is covered by tests/integration/test_context_window_llama.py.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from rustyclaw.adapters.llm.model_info import ServerWindowProbe
from rustyclaw.adapters.llm.overflow import overflow_error

pytestmark = pytest.mark.anyio

LLAMA_PROPS = {"default_generation_settings": {"n_ctx": 8192, "model": "qwen.gguf"}, "total_slots": 1}
OLLAMA_SHOW = {
    "parameters": 'stop "<|im_end|>"\nnum_ctx 16384\ntemperature 0.7',
    "model_info": {"general.architecture": "qwen2", "qwen2.context_length": 32768},
}
OLLAMA_SHOW_PLAIN = {"parameters": "temperature 0.7", "model_info": {"llama.context_length": 131072}}


class StandIn(BaseHTTPRequestHandler):
    routes: dict[tuple[str, str], Any] = {}
    seen: list[tuple[str, str, Any]] = []

    def _answer(self, method: str) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        self.seen.append((method, self.path, body))
        key = (method, self.path)
        route = self.routes.get(key)
        if callable(route):
            route = route(body)
        if route is None:
            self.send_response(404)
            self.end_headers()
            return
        data = json.dumps(route).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._answer("GET")

    def do_POST(self) -> None:
        self._answer("POST")

    def log_message(self, format: str, *args: Any) -> None:
        return None


@pytest.fixture
def server() -> Iterator[str]:
    StandIn.routes = {}
    StandIn.seen = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), StandIn)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


async def test_llama_cpp_props(server: str) -> None:
    StandIn.routes = {("GET", "/props"): LLAMA_PROPS}
    assert await ServerWindowProbe({"llama": server}).context_window("llama/qwen") == 8192


async def test_ollama_num_ctx_then_loaded_then_trained(server: str) -> None:
    probe = ServerWindowProbe({"ollama": server})
    StandIn.routes = {("POST", "/api/show"): OLLAMA_SHOW}
    assert await probe.context_window("ollama/qwen2.5:7b") is None  # not Ollama: no /api/version
    assert ("POST", "/api/show", {"model": "qwen2.5:7b"}) not in StandIn.seen
    StandIn.routes = {("GET", "/api/version"): {"version": "0.12.3"}, ("POST", "/api/show"): OLLAMA_SHOW}
    assert await probe.context_window("ollama/qwen2.5:7b") == 16384
    assert ("POST", "/api/show", {"model": "qwen2.5:7b"}) in StandIn.seen
    StandIn.routes = {("GET", "/api/version"): {"version": "0.12.3"}, ("POST", "/api/show"): OLLAMA_SHOW_PLAIN,
                      ("GET", "/api/ps"): {"models": [{"name": "llama3.2", "context_length": 8192}]}}
    assert await probe.context_window("ollama/llama3.2") == 8192
    StandIn.routes = {("GET", "/api/version"): {"version": "0.12.3"}, ("POST", "/api/show"): OLLAMA_SHOW_PLAIN,
                      ("GET", "/api/ps"): {"models": []}}
    assert await probe.context_window("ollama/llama3.2") == 4096  # Ollama's default runtime context


async def test_vllm_models_listing_and_unknown(server: str) -> None:
    StandIn.routes = {("GET", "/v1/models"): {"data": [{"id": "m", "max_model_len": 32000}]}}
    probe = ServerWindowProbe({"vllm": server}, known={"vllm/fixed": 2048})
    assert await probe.context_window("vllm/m") == 32000
    assert await probe.context_window("vllm/other") is None
    assert await probe.context_window("vllm/fixed") == 2048
    assert await probe.context_window("nowhere/m") is None


async def test_unreachable_server_is_unknown(closed_port_url: str) -> None:
    assert await ServerWindowProbe({"x": closed_port_url}).context_window("x/m") is None


async def test_the_httpx_path_asks_the_same(server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # HTTPS or a proxy for the URL: httpx asks (lean_origin refuses those); forced here on plain http.
    from rustyclaw.adapters.llm import http11

    monkeypatch.setattr(http11, "lean_origin", lambda url: None)
    StandIn.routes = {("GET", "/api/version"): {"version": "0.12.3"}, ("POST", "/api/show"): OLLAMA_SHOW}
    assert await ServerWindowProbe({"ollama": server}).context_window("ollama/qwen2.5:7b") == 16384
    assert ("POST", "/api/show", {"model": "qwen2.5:7b"}) in StandIn.seen
    StandIn.routes = {("GET", "/props"): LLAMA_PROPS}
    assert await ServerWindowProbe({"llama": server}).context_window("llama/qwen") == 8192


async def test_credentials_reach_the_server_on_the_lean_path(server: str) -> None:
    heard: list[str | None] = []
    StandIn.routes = {("GET", "/props"): LLAMA_PROPS}
    probe = ServerWindowProbe({"llama": server}, headers={"llama": {"authorization": "Bearer k"}})
    original = StandIn._answer

    def answer(self: StandIn, method: str) -> None:
        heard.append(self.headers.get("authorization"))
        original(self, method)

    StandIn._answer = answer  # type: ignore[method-assign]
    try:
        assert await probe.context_window("llama/qwen") == 8192
    finally:
        StandIn._answer = original  # type: ignore[method-assign]
    assert heard[0] == "Bearer k"


def test_a_plain_http_probe_does_not_import_httpx(server: str) -> None:
    # The first turn probes the window; over plain http that must not load httpx (3.1 MB of RSS).
    StandIn.routes = {("GET", "/props"): LLAMA_PROPS}
    code = ("import asyncio, sys\n"
            "from rustyclaw.adapters.llm.model_info import ServerWindowProbe\n"
            f"print(asyncio.run(ServerWindowProbe({{'llama': {server!r}}}).context_window('llama/qwen')),"
            " 'httpx' in sys.modules)\n")
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "all_proxy")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env,
                         timeout=60)
    assert out.stdout.split() == ["8192", "False"]


@pytest.mark.parametrize(("text", "reported", "window"), [
    # llama-cpp-python's server (its ErrorResponseFormatters.context_length_exceeded)
    ("This model's maximum context length is 4096 tokens. However, you requested 5024 tokens "
     "(4000 in the messages, 1024 in the completion). Please reduce the length of the messages or completion.",
     5024, 4096),
    ("Requested tokens (5000) exceed context window of 4096", 5000, 4096),
    ("the request exceeds the available context size, try increasing it", None, None),
    ("input is too long for the model", None, None),
])
def test_overflow_messages(text: str, reported: int | None, window: int | None) -> None:
    error = overflow_error(400, text)
    assert error is not None and error.reported == reported and error.window == window
    assert overflow_error(400, "model not found") is None
    assert overflow_error(200, text) is None
