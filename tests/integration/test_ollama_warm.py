"""llm.cache for Ollama against a stand-in that answers as Ollama does: the preload is
`POST /api/generate {"model", "keep_alive"}` without a prompt, `/model` reads `GET /api/ps`, and a
server that is not Ollama gives a clear error (preload) or nothing (loaded)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from rustyclaw.adapters.llm.ollama_warm import ollama_loaded, ollama_preload
from rustyclaw.domain.errors import LLMUnavailableError
from tests.fixtures.llm_servers import free_port

pytestmark = pytest.mark.anyio


@pytest.fixture
async def ollama() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    seen: list[dict[str, Any]] = []
    loaded: list[str] = []

    async def generate(request: web.Request) -> web.Response:
        body = await request.json()
        seen.append(body)
        loaded.append(body["model"])
        return web.json_response({"model": body["model"], "response": "", "done": True, "done_reason": "load"})

    async def ps(request: web.Request) -> web.Response:
        return web.json_response({"models": [{"name": m, "model": m} for m in loaded]})

    app = web.Application()
    app.router.add_post("/api/generate", generate)
    app.router.add_get("/api/ps", ps)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}/v1", seen
    finally:
        await runner.cleanup()


async def test_preload_keeps_the_model_alive_and_ps_lists_it(ollama: tuple[str, list[dict[str, Any]]]) -> None:
    base_url, seen = ollama
    assert await ollama_loaded(base_url) == []
    await ollama_preload(base_url, "qwen2.5:7b", "30m")
    assert seen == [{"model": "qwen2.5:7b", "keep_alive": "30m"}]
    assert await ollama_loaded(base_url) == ["qwen2.5:7b"]


async def test_a_server_that_is_not_ollama(closed_port_url: str, mock_llm: Any) -> None:
    with pytest.raises(LLMUnavailableError, match="preloading m at"):
        await ollama_preload(closed_port_url, "m", "5m")
    assert await ollama_loaded(closed_port_url) == []
    assert await ollama_loaded(mock_llm.base_url) == []  # llmock: no /api/ps
