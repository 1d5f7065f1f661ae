"""`web_fetch`: one URL's readable text, behind the SSRF guard, with size and time caps.

Redirects are followed here (at most `max_redirects`), each hop checked by the guard again and
connected to the IP the guard checked. Only text-like content types are returned.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anyio

from rustyclaw.adapters.tools.ssrf import Guard, Target
from rustyclaw.domain.errors import ToolError
from rustyclaw.ports.llm import ToolSpec
from rustyclaw.ports.tools import ToolContext

if TYPE_CHECKING:  # httpx loads with the first fetch, not with the gateway (idle memory)
    import httpx


USER_AGENT = "RustyClaw/0.1 (+web_fetch)"
_TEXT_TYPES = ("text/", "application/json", "application/xml", "application/xhtml+xml", "application/javascript")


def _is_text(content_type: str) -> bool:
    kind = content_type.split(";", 1)[0].strip().lower()
    return not kind or kind.startswith(_TEXT_TYPES) or kind.endswith(("+json", "+xml"))


def _host_header(url: httpx.URL) -> str:
    host = f"[{url.host}]" if ":" in url.host else url.host
    return f"{host}:{url.port}" if url.port else host


class WebFetchTool:
    """`web_fetch`: see the module docstring."""

    spec = ToolSpec(
        name="web_fetch", description="Fetch a web page as text.",
        parameters={"type": "object", "properties": {"url": {"type": "string"}}, "required": ["url"]},
    )

    def __init__(
        self, guard: Guard, *, max_bytes: int = 2_000_000, timeout: float = 20.0, max_chars: int = 20_000,
        max_redirects: int = 5, transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.guard = guard
        self._max_bytes = max_bytes
        self._timeout = timeout
        self._max_chars = max_chars
        self._max_redirects = max_redirects
        self._transport = transport
        self._client: httpx.AsyncClient | None = None

    def _http(self) -> httpx.AsyncClient:
        import httpx

        if self._client is None:
            # No proxies from the environment: they would resolve the name again, past the guard.
            self._client = httpx.AsyncClient(
                follow_redirects=False, trust_env=False, timeout=self._timeout, transport=self._transport,
            )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def run(self, arguments: dict[str, Any], context: ToolContext) -> str:
        url = arguments.get("url")
        if not isinstance(url, str) or not url.strip():
            raise ToolError("'url' must be a non-empty string")
        with anyio.move_on_after(self._timeout) as scope:
            return await self.fetch(url.strip())
        assert scope.cancelled_caught
        raise ToolError(f"fetching {url} took longer than {self._timeout:g} s (tools.web.fetch.timeoutSeconds)")

    async def fetch(self, url: str) -> str:
        current: str | httpx.URL = url
        for _ in range(self._max_redirects + 1):
            target = await self.guard.check(current)
            location = await self._one_hop(target)
            if isinstance(location, str):
                return location
            current = location
        raise ToolError(f"more than {self._max_redirects} redirects")

    async def _one_hop(self, target: Target) -> str | httpx.URL:
        """The page's text, or the next URL for a redirect."""
        import httpx

        extensions = {"sni_hostname": target.host} if target.url.scheme == "https" else {}
        request = self._http().build_request(
            "GET", target.pinned_url(), extensions=extensions,
            headers={"Host": _host_header(target.url), "User-Agent": USER_AGENT,
                     "Accept": "text/html,text/plain,application/json;q=0.9,*/*;q=0.1"},
        )
        try:
            response = await self._http().send(request, stream=True)
        except httpx.HTTPError as exc:
            raise ToolError(f"fetching {target.url} failed: {exc.__class__.__name__}: {exc}") from exc
        try:
            if response.is_redirect:
                location = response.headers.get("location")
                if not location:
                    raise ToolError(f"{target.url} redirected without a Location")
                return target.url.join(location)
            content_type = response.headers.get("content-type", "")
            if not _is_text(content_type):
                raise ToolError(f"{target.url} is {content_type.split(';')[0]}, not text; only text pages are fetched")
            body, truncated = await self._read_capped(response)
        finally:
            await response.aclose()
        text = body.decode(response.charset_encoding or "utf-8", errors="replace")
        if "html" in content_type.lower() or (not content_type and "<html" in text[:1000].lower()):
            # html.parser and html.entities' tables load with the first HTML page, not at start.
            from rustyclaw.adapters.tools.html_text import html_to_text

            text = html_to_text(text)
        if response.status_code >= 400:
            raise ToolError(f"HTTP {response.status_code} from {target.url}: {text[:300]}")
        if len(text) > self._max_chars:
            text, truncated = text[: self._max_chars], True
        return text + ("\n[... truncated]" if truncated else "")

    async def _read_capped(self, response: httpx.Response) -> tuple[bytes, bool]:
        import httpx

        chunks: list[bytes] = []
        size = 0
        try:
            async for chunk in response.aiter_bytes():
                room = self._max_bytes - size
                if len(chunk) > room:
                    chunks.append(chunk[:room])
                    return b"".join(chunks), True
                chunks.append(chunk)
                size += len(chunk)
        except httpx.HTTPError as exc:
            raise ToolError(f"reading {response.url} failed: {exc}") from exc
        return b"".join(chunks), False
