"""Asks model servers for the context window they run a model with (ContextWindowProbe).

Tried in order, each with a short timeout, on the provider's server (its `base_url` without `/v1`):
- llama.cpp's server: `GET /props` -> `default_generation_settings.n_ctx` (or top-level `n_ctx`);
- Ollama (recognised by `GET /api/version`): `POST /api/show {"model": ...}` -> `num_ctx` in
  `parameters` (what the model runs with),
  else the loaded model's `context_length` in `GET /api/ps`, else the trained
  `<arch>.context_length` of `model_info` capped at Ollama's default runtime context (4096);
- vLLM and others: `GET /v1/models` -> the model's `max_model_len` (or `context_length`,
  `meta.n_ctx`).
llama-cpp-python's server (the embedded model) exposes none of these; its window is known because
RustyClaw started it (`known`), and an overflow error teaches the real one (ContextOverflowError).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import msgspec

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("rustyclaw.llm")

OLLAMA_DEFAULT_CONTEXT = 4096
_NUM_CTX = re.compile(r"^\s*num_ctx\s+(\d+)\s*$", re.MULTILINE)


def _positive(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value) if value > 0 else None


def llama_cpp_window(props: Any) -> int | None:
    if not isinstance(props, dict):
        return None
    settings = props.get("default_generation_settings")
    if isinstance(settings, dict) and _positive(settings.get("n_ctx")):
        return _positive(settings.get("n_ctx"))
    return _positive(props.get("n_ctx"))


def ollama_window(show: Any, loaded: int | None) -> int | None:
    if not isinstance(show, dict):
        return None
    parameters = show.get("parameters")
    if isinstance(parameters, str):
        match = _NUM_CTX.search(parameters)
        if match:
            return int(match.group(1))
    if loaded:
        return loaded
    info = show.get("model_info")
    if isinstance(info, dict):
        for key, value in info.items():
            if key.endswith(".context_length") and _positive(value):
                trained = _positive(value)
                assert trained is not None
                return min(trained, OLLAMA_DEFAULT_CONTEXT)
    return None


def models_window(listing: Any, model: str) -> int | None:
    data = listing.get("data") if isinstance(listing, dict) else None
    if not isinstance(data, list):
        return None
    for item in data:
        if not isinstance(item, dict) or item.get("id") != model:
            continue
        for key in ("max_model_len", "context_length", "context_window"):
            if _positive(item.get(key)):
                return _positive(item.get(key))
        meta = item.get("meta")
        if isinstance(meta, dict) and _positive(meta.get("n_ctx")):
            return _positive(meta.get("n_ctx"))
    return None


class ServerWindowProbe:
    """`base_urls` maps provider names to their OpenAI base URL; `known` maps model refs to windows
    already known (a server RustyClaw started itself). `headers` per provider carry credentials and
    are never logged."""

    def __init__(
        self,
        base_urls: Mapping[str, str],
        *,
        known: Mapping[str, int] | None = None,
        headers: Mapping[str, Mapping[str, str]] | None = None,
        timeout: float = 2.0,
    ) -> None:
        self._base_urls = dict(base_urls)
        self._known = dict(known or {})
        self._headers = {name: dict(h) for name, h in (headers or {}).items()}
        self._timeout = timeout

    async def context_window(self, model_ref: str) -> int | None:
        if model_ref in self._known:
            return self._known[model_ref]
        provider, _, model = model_ref.partition("/")
        base = self._base_urls.get(provider)
        if base is None or not model:
            return None
        import httpx

        root = base.rstrip("/").removesuffix("/v1")
        try:
            async with httpx.AsyncClient(timeout=self._timeout, headers=self._headers.get(provider, {}),
                                         verify=not base.startswith("http://"), follow_redirects=False) as http:
                return await self._ask(http, root, base.rstrip("/"), model)
        except httpx.HTTPError as exc:
            log.info("no context window from %s for %s: %s", provider, model, type(exc).__name__)
            return None

    async def _ask(self, http: httpx.AsyncClient, root: str, base: str, model: str) -> int | None:
        props = await _json(http, "GET", f"{root}/props")
        found = llama_cpp_window(props)
        if found:
            return found
        # Ollama is asked (POST /api/show) only once GET /api/version says it is Ollama: other servers
        # see GETs alone from this probe.
        version = await _json(http, "GET", f"{root}/api/version")
        if isinstance(version, dict) and "version" in version:
            show = await _json(http, "POST", f"{root}/api/show", {"model": model})
            if isinstance(show, dict) and ("model_info" in show or "parameters" in show):
                return ollama_window(show, await _ollama_loaded(http, root, model))
        return models_window(await _json(http, "GET", f"{base}/models"), model)


async def _json(http: httpx.AsyncClient, method: str, url: str, body: Any = None) -> Any:
    response = await http.request(method, url, json=body)
    if response.status_code != 200:
        return None
    try:
        return msgspec.json.decode(response.content)
    except msgspec.DecodeError:
        return None


async def _ollama_loaded(http: httpx.AsyncClient, root: str, model: str) -> int | None:
    listing = await _json(http, "GET", f"{root}/api/ps")
    models = listing.get("models") if isinstance(listing, dict) else None
    if not isinstance(models, list):
        return None
    for item in models:
        if isinstance(item, dict) and model in (item.get("name"), item.get("model")):
            return _positive(item.get("context_length"))
    return None
