"""`web_search`: a SearXNG instance's JSON API (`GET {baseUrl}/search?q=...&format=json`).

The instance is the operator's own choice (usually local), so it is not behind the SSRF guard.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rustyclaw.domain.errors import ToolError
from rustyclaw.ports.llm import ToolSpec
from rustyclaw.ports.tools import ToolContext

if TYPE_CHECKING:  # httpx loads with the first fetch, not with the gateway (idle memory)
    import httpx


SNIPPET_CHARS = 240


class WebSearchTool:
    """`web_search`: the top results as numbered title, URL and snippet lines."""

    spec = ToolSpec(
        name="web_search", description="Search the web.",
        parameters={"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]},
    )

    def __init__(
        self, base_url: str | None, *, results: int = 5, timeout: float = 15.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._base_url = base_url.rstrip("/") if base_url else None
        self._results = results
        self._timeout = timeout
        self._transport = transport
        self._client: httpx.AsyncClient | None = None

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def run(self, arguments: dict[str, Any], context: ToolContext) -> str:
        import httpx

        query = arguments.get("query")
        if not isinstance(query, str) or not query.strip():
            raise ToolError("'query' must be a non-empty string")
        if self._base_url is None:
            raise ToolError(
                "web search is not configured: set tools.web.search.baseUrl to a SearXNG instance "
                "(for example http://localhost:8888) with the JSON format enabled"
            )
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self._timeout, trust_env=False, transport=self._transport)
        try:
            response = await self._client.get(
                f"{self._base_url}/search", params={"q": query.strip(), "format": "json"},
                headers={"Accept": "application/json"},
            )
        except httpx.HTTPError as exc:
            raise ToolError(f"the search service at {self._base_url} did not answer: {exc}") from exc
        if response.status_code == 403:
            raise ToolError("the SearXNG instance refused format=json: enable 'json' under search.formats")
        if response.status_code >= 400:
            raise ToolError(f"the search service answered HTTP {response.status_code}")
        try:
            payload = response.json()
        except ValueError as exc:
            raise ToolError("the search service did not answer JSON") from exc
        return format_results(payload, self._results)


def format_results(payload: Any, limit: int) -> str:
    results = payload.get("results") if isinstance(payload, dict) else None
    if not isinstance(results, list) or not results:
        return "no results"
    lines = []
    for number, item in enumerate(results[:limit], 1):
        if not isinstance(item, dict):
            continue
        title = str(item.get("title") or "").strip()
        url = str(item.get("url") or "").strip()
        snippet = " ".join(str(item.get("content") or "").split())
        if len(snippet) > SNIPPET_CHARS:
            snippet = snippet[:SNIPPET_CHARS] + "..."
        lines.append(f"{number}. {title}\n{url}" + (f"\n{snippet}" if snippet else ""))
    return "\n\n".join(lines) or "no results"
