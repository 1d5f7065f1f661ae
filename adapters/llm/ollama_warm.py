"""Ollama's model keep-alive: `POST /api/generate {"model", "keep_alive"}` without a prompt loads the
model and keeps it loaded that long after its last request (Ollama's documented preload), and
`GET /api/ps` lists what is loaded. Used for `llm.cache.preload` and `/model`."""

from __future__ import annotations

import logging

from rustyclaw.domain.errors import LLMUnavailableError

log = logging.getLogger("rustyclaw.llm")


def _root(base_url: str) -> str:
    root = base_url.rstrip("/")
    return root[: -len("/v1")] if root.endswith("/v1") else root


async def ollama_preload(base_url: str, model: str, keep_alive: str, timeout: float = 300.0) -> None:  # noqa: ASYNC109
    import httpx

    try:
        async with httpx.AsyncClient(timeout=timeout) as http:
            body = {"model": model, "keep_alive": keep_alive}
            response = await http.post(f"{_root(base_url)}/api/generate", json=body)
    except httpx.HTTPError as exc:
        raise LLMUnavailableError(f"preloading {model} at {base_url}: {type(exc).__name__}: {exc}") from exc
    if response.status_code != 200:
        raise LLMUnavailableError(f"preloading {model} at {base_url}: HTTP {response.status_code} "
                                  f"{response.text[:200]} (is it an Ollama server?)")
    log.info("ollama model %s loaded, kept alive %s", model, keep_alive)


async def ollama_loaded(base_url: str, timeout: float = 2.0) -> list[str]:  # noqa: ASYNC109
    """The models Ollama has loaded now; [] for a server that is not Ollama or does not answer."""
    import httpx

    try:
        async with httpx.AsyncClient(timeout=timeout) as http:
            response = await http.get(f"{_root(base_url)}/api/ps")
        models = response.json().get("models", []) if response.status_code == 200 else []
    except (httpx.HTTPError, ValueError, AttributeError):
        return []
    return [str(m.get("name") or m.get("model")) for m in models if isinstance(m, dict)]
