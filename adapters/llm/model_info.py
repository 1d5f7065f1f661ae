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
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import anyio
import msgspec

log = logging.getLogger("rustyclaw.llm")

OLLAMA_DEFAULT_CONTEXT = 4096
_NUM_CTX = re.compile(r"^\s*num_ctx\s+(\d+)\s*$", re.MULTILINE)

# One probe request: (method, URL, JSON body or None) -> (status, body).
Fetch = Callable[[str, str, Any], Awaitable[tuple[int, bytes]]]


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
        from rustyclaw.adapters.llm.http11 import lean_origin

        root = base.rstrip("/").removesuffix("/v1")
        headers = self._headers.get(provider, {})
        origin = lean_origin(base)
        if origin is not None:
            # A plain-http server no proxy applies to (llama.cpp, Ollama, vLLM on this host or the LAN):
            # the lean client the model call uses too, so the first turn does not import httpx for
            # this probe alone (+3.1 MB of RSS; benchmarks/README.md, 2026-12-03).
            return await self._ask_lean(origin, headers, provider, root, base.rstrip("/"), model)
        import httpx

        try:
            async with httpx.AsyncClient(timeout=self._timeout, headers=headers,
                                         verify=not base.startswith("http://"), follow_redirects=False) as http:

                async def fetch(method: str, url: str, body: Any) -> tuple[int, bytes]:
                    response = await http.request(method, url, json=body)
                    return response.status_code, response.content

                return await self._ask(fetch, root, base.rstrip("/"), model)
        except httpx.HTTPError as exc:
            log.info("no context window from %s for %s: %s", provider, model, type(exc).__name__)
            return None

    async def _ask_lean(self, origin: tuple[str, int], headers: Mapping[str, str], provider: str, root: str,
                        base: str, model: str) -> int | None:
        from rustyclaw.adapters.llm.http11 import HTTPBroken, HTTPConnectError, HTTPTimeout, LeanHTTPClient

        client = LeanHTTPClient(*origin, headers, connect_timeout=self._timeout, head_timeout=self._timeout)

        async def fetch(method: str, url: str, body: Any) -> tuple[int, bytes]:
            parts = urlsplit(url)
            path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            data = b"" if body is None else msgspec.json.encode(body)
            response = await client.request(method, path, data,
                                            {} if body is None else {"content-type": "application/json"})
            try:
                with anyio.fail_after(self._timeout):  # httpx's read timeout, as the other path has
                    content = await response.aread()
            finally:
                await response.aclose()
            return response.status_code, content

        try:
            return await self._ask(fetch, root, base, model)
        except (HTTPConnectError, HTTPTimeout, HTTPBroken, TimeoutError) as exc:
            log.info("no context window from %s for %s: %s", provider, model, type(exc).__name__)
            return None
        finally:
            await client.aclose()

    async def _ask(self, http: Fetch, root: str, base: str, model: str) -> int | None:
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


async def _json(http: Fetch, method: str, url: str, body: Any = None) -> Any:
    status, content = await http(method, url, body)
    if status != 200:
        return None
    try:
        return msgspec.json.decode(content)
    except msgspec.DecodeError:
        return None


async def _ollama_loaded(http: Fetch, root: str, model: str) -> int | None:
    listing = await _json(http, "GET", f"{root}/api/ps")
    models = listing.get("models") if isinstance(listing, dict) else None
    if not isinstance(models, list):
        return None
    for item in models:
        if isinstance(item, dict) and model in (item.get("name"), item.get("model")):
            return _positive(item.get("context_length"))
    return None
