"""Builds the RoutedLLM from the `llm` config section (camelCase keys, as in the config file)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rustyclaw.adapters.llm.openai_compat import OpenAICompatProvider
from rustyclaw.adapters.llm.routing import Provider, RetryPolicy, Route, RoutedLLM
from rustyclaw.domain.errors import ConfigError


def routed_llm_from_config(section: Mapping[str, Any]) -> RoutedLLM:
    """`section` is `llm` as loaded from the config file or `model_dump(by_alias=True)`.

    llm.providers {name: {baseUrl, apiKey?, timeoutSeconds?, connectTimeoutSeconds?, headers?}},
    llm.routes {task: {primary, fallbacks?}} (a `default` route is required),
    llm.retry {attempts?, initialDelaySeconds?, maxDelaySeconds?}, llm.streamIdleTimeoutSeconds?.
    """
    idle = _number(section, "streamIdleTimeoutSeconds", 60.0, "llm")
    providers: dict[str, Provider] = {}
    for name, raw in _mapping(section, "providers", "llm").items():
        where = f"llm.providers.{name}"
        if not isinstance(raw, Mapping):
            raise ConfigError(f"{where}: expected a mapping, got {raw!r}")
        base_url = raw.get("baseUrl")
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise ConfigError(f"{where}.baseUrl: expected an http(s) URL, got {base_url!r}")
        headers = raw.get("headers") or {}
        if not isinstance(headers, Mapping):
            raise ConfigError(f"{where}.headers: expected a mapping of strings")
        providers[name] = OpenAICompatProvider(
            name,
            base_url,
            api_key=raw.get("apiKey") or None,
            timeout=_number(raw, "timeoutSeconds", 120.0, where),
            connect_timeout=_number(raw, "connectTimeoutSeconds", 5.0, where),
            headers={str(k): str(v) for k, v in headers.items()},
            stream_idle_timeout=idle,
        )
    routes: dict[str, Route] = {}
    for task, raw in _mapping(section, "routes", "llm").items():
        where = f"llm.routes.{task}"
        if isinstance(raw, str):  # shorthand: `code: ollama/qwen2.5-coder`
            routes[task] = Route(raw)
            continue
        if not isinstance(raw, Mapping) or not isinstance(raw.get("primary"), str):
            raise ConfigError(f"{where}.primary: expected provider/model, got {raw!r}")
        fallbacks = raw.get("fallbacks") or []
        if not isinstance(fallbacks, list | tuple) or not all(isinstance(f, str) for f in fallbacks):
            raise ConfigError(f"{where}.fallbacks: expected a list of provider/model, got {fallbacks!r}")
        routes[task] = Route(raw["primary"], tuple(fallbacks))
    retry_raw = section.get("retry") or {}
    retry = RetryPolicy(
        attempts=int(_number(retry_raw, "attempts", 3, "llm.retry")),
        initial_delay=_number(retry_raw, "initialDelaySeconds", 0.5, "llm.retry"),
        max_delay=_number(retry_raw, "maxDelaySeconds", 8.0, "llm.retry"),
    )
    return RoutedLLM(providers, routes, retry)


def _mapping(section: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    value = section.get(key)
    if not isinstance(value, Mapping) or not value:
        raise ConfigError(f"{where}.{key}: expected a non-empty mapping, got {value!r}")
    return value


def _number(section: Mapping[str, Any], key: str, default: float, where: str) -> float:
    value = section.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ConfigError(f"{where}.{key}: expected a non-negative number, got {value!r}")
    return float(value)
