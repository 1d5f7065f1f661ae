"""llm.cache for Ollama against a stand-in that answers as Ollama does: the preload is
`POST /api/generate {"model", "keep_alive"}` without a prompt, `/model` reads `GET /api/ps`, and a
server that is not Ollama gives a clear error (preload) or nothing (loaded)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from rustyclaw.adapters.llm.ollama_warm import ollama_loaded, ollama_preload
from rustyclaw.app import bootstrap
from rustyclaw.config.schema import RustyClawConfig
from rustyclaw.domain.errors import LLMUnavailableError
from rustyclaw.domain.messages import InboundMessage
from rustyclaw.settings import settings_of
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


async def test_the_model_command_shows_what_ollama_has_loaded(ollama: tuple[str, list[dict[str, Any]]],
                                                              tmp_path: Path) -> None:
    base_url, _ = ollama
    cfg = RustyClawConfig.model_validate({
        "gateway": {"stateDir": str(tmp_path / "state")}, "agents": {"workspace": str(tmp_path / "ws")},
        "llm": {"providers": {"ollama": {"baseUrl": base_url}}, "routes": {"default": {"primary": "ollama/qwen2.5:7b"}},
                "embedded": {"enabled": False}},
        "storage": {"backend": "sqlite"},
    })
    async with bootstrap(settings_of(cfg), "core") as root:
        cli = InboundMessage(channel="cli", peer_id="me", sender_id="me", text="/model")
        before = await root.gateway.handle(cli)
        await ollama_preload(base_url, "qwen2.5:7b", "30m")  # the server now holds the model
        after = await root.gateway.handle(cli)
    assert before is not None and "ollama/qwen2.5:7b" not in before.text.split("Loaded now")[-1]
    assert after is not None and "Loaded now: ollama/qwen2.5:7b" in after.text


async def test_every_request_to_an_ollama_provider_carries_keep_alive(mock_llm: Any, tmp_path: Path) -> None:
    """llmock records the bodies: the providers that are Ollama (by name, or `kind: ollama`) get
    llm.cache.keepAlive in each chat request, so a request never shortens the preload's stay;
    an OpenAI-compatible server that is not Ollama gets no such field."""
    (tmp_path / "ws").mkdir()
    cfg = RustyClawConfig.model_validate({
        "gateway": {"stateDir": str(tmp_path / "state")}, "agents": {"workspace": str(tmp_path / "ws")},
        "llm": {"providers": {"ollama": {"baseUrl": mock_llm.base_url},
                              "gpu": {"baseUrl": mock_llm.base_url, "kind": "ollama"},
                              "vllm": {"baseUrl": mock_llm.base_url}},
                "routes": {"default": {"primary": "ollama/qwen2.5:7b"}, "fast": {"primary": "gpu/llama3.2:1b"},
                           "code": {"primary": "vllm/coder"}},
                "cache": {"keepAlive": "45m"}, "embedded": {"enabled": False}, "retry": {"attempts": 1}},
        "storage": {"backend": "sqlite"},
    })
    mock_llm.reply("ok", times=4)
    async with bootstrap(settings_of(cfg), "core") as root:
        before = len(mock_llm.chat_bodies())
        for text in ("Tell me about the history of the printing press.", "thanks", "```\nx = 1\n```\nwhy?",
                     "And what came after it in Europe, roughly?"):
            reply = await root.gateway.handle(InboundMessage(channel="cli", peer_id="me", sender_id="me", text=text))
            assert reply is not None and reply.text == "ok"
    sent = [(body["model"], body.get("keep_alive")) for body in mock_llm.chat_bodies()[before:]]
    assert sent == [("qwen2.5:7b", "45m"), ("llama3.2:1b", "45m"), ("coder", None), ("qwen2.5:7b", "45m")]


def test_which_providers_are_ollama() -> None:
    from rustyclaw.config.llm import ProviderConfig

    assert ProviderConfig(base_url="http://gpu-box:11434/v1").is_ollama("gpu")
    assert ProviderConfig(base_url="http://127.0.0.1:8080/v1").is_ollama("ollama")
    assert not ProviderConfig(base_url="http://127.0.0.1:8080/v1").is_ollama("vllm")
    assert not ProviderConfig(base_url="http://127.0.0.1:11434/v1", kind="openai").is_ollama("ollama")
