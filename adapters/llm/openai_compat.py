"""One OpenAI-compatible server (llama.cpp, Ollama, vLLM, OpenAI): streamed chat completions over httpx."""

from __future__ import annotations

import email.utils
import logging
import sys
import time
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from contextlib import aclosing, asynccontextmanager
from typing import TYPE_CHECKING, Any, Self

import anyio
import msgspec

from rustyclaw.adapters.llm.http11 import (
    HTTPBroken,
    HTTPConnectError,
    HTTPResponse,
    HTTPTimeout,
    LeanHTTPClient,
    lean_origin,
)
from rustyclaw.adapters.llm.overflow import overflow_error
from rustyclaw.adapters.llm.sse import SSEDecoder, SSEEvent
from rustyclaw.adapters.llm.wire import ChunkError, StreamAssembler, error_message, request_body
from rustyclaw.domain.errors import (
    ContextOverflowError,
    LLMError,
    LLMRateLimitedError,
    LLMRequestError,
    LLMServerError,
    LLMUnavailableError,
)
from rustyclaw.ports.llm import LLMRequest, LLMResult, TextDelta

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("rustyclaw.llm")


class EmptyStreamError(LLMServerError):
    """A 200 streamed answer without a single event (what llama-cpp-python sends for a prompt
    longer than its window); the provider asks again without streaming to learn why."""


def rate_limited(message: str, retry_after: float | None) -> LLMRateLimitedError:
    """A 429 error carrying the server's `Retry-After` (seconds)."""
    return LLMRateLimitedError(message, retry_after)


class OpenAICompatProvider:
    """Streams `/chat/completions` from one server; `base_url` ends before `/chat` (e.g. `.../v1`).

    Timeouts: `connect_timeout` to open the connection; `timeout` for the response headers and the
    first event (prompt processing on a small CPU can take a minute); after that the stream may be
    silent for at most `stream_idle_timeout` between lines, and the whole stream may take at most
    `total_timeout` (None: unbounded). The httpx client is built on first use.
    """

    def __init__(
        self,
        name: str,
        base_url: str,
        api_key: str | None = None,
        timeout: float = 120,
        connect_timeout: float = 5,
        headers: dict[str, str] | None = None,
        stream_idle_timeout: float = 60,
        total_timeout: float | None = None,
        keep_alive: str | None = None,
    ) -> None:
        self.name = name
        # Ollama's keep_alive (llm.cache.keepAlive), sent with every request: each request sets how
        # long Ollama keeps the model loaded after it, so one without it would undo the preload's.
        self.keep_alive = keep_alive
        self.total_timeout = total_timeout
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.stream_idle_timeout = stream_idle_timeout
        self._headers = dict(headers or {})
        self._client: httpx.AsyncClient | None = None
        # The model call to a plain-http server skips httpx (see adapters/llm/http11.py); decided on
        # first use, since the proxy environment is read then.
        self._lean: LeanHTTPClient | None = None
        self._lean_decided = False

    def __repr__(self) -> str:  # never shows the api key
        return f"OpenAICompatProvider(name={self.name!r}, base_url={self.base_url!r})"

    async def start(self) -> None:
        """Nothing to do: the HTTP client is created by the first request (idle memory budget)."""

    async def aclose(self) -> None:
        client, self._client = self._client, None
        lean, self._lean, self._lean_decided = self._lean, None, False
        if lean is not None:
            await lean.aclose()
        if client is not None:
            await client.aclose()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def _default_headers(self) -> dict[str, str]:
        headers = {"accept": "text/event-stream", **self._headers}
        if self._api_key:
            headers["authorization"] = f"Bearer {self._api_key}"
        return headers

    def _lean_client(self) -> LeanHTTPClient | None:
        if not self._lean_decided:
            self._lean_decided = True
            origin = lean_origin(self.base_url)
            if origin is not None:
                self._lean = LeanHTTPClient(
                    *origin, self._default_headers(), connect_timeout=self.connect_timeout,
                    # httpx's read timeout was this backstop for the response head too.
                    head_timeout=max(self.timeout, self.stream_idle_timeout),
                )
        return self._lean

    @asynccontextmanager
    async def _post_stream(self, url: str, body: bytes) -> AsyncIterator[HTTPResponse | httpx.Response]:
        """The streamed POST of a chat completion: the lean client for plain http, else httpx."""
        lean = self._lean_client()
        if lean is not None:
            path = url[url.index("/", len("http://")):] if "/" in url[len("http://"):] else "/"
            response = await lean.post(path, body, {"content-type": "application/json"})
            try:
                yield response
            finally:
                await response.aclose()
            return
        async with self._http().stream(
            "POST", url, content=body, headers={"content-type": "application/json"}
        ) as streamed:
            yield streamed

    def _transport_error(self, exc: BaseException, model: str) -> LLMError | None:
        """The LLMError a transport failure means (either client's), None for anything else."""
        if isinstance(exc, HTTPTimeout):
            return LLMUnavailableError(f"{self.name}: {model} timed out ({exc})")
        if isinstance(exc, HTTPConnectError):
            return LLMUnavailableError(f"{self.name}: cannot connect to {self.base_url}: {exc}")
        if isinstance(exc, HTTPBroken):
            return LLMServerError(f"{self.name}: {model} connection broke: {exc}")
        httpx = sys.modules.get("httpx")  # not imported at all when only the lean client ran
        if httpx is None:
            return None
        if isinstance(exc, httpx.TimeoutException):
            return LLMUnavailableError(f"{self.name}: {model} timed out ({type(exc).__name__})")
        if isinstance(exc, httpx.ConnectError | httpx.ProxyError | httpx.UnsupportedProtocol):
            return LLMUnavailableError(f"{self.name}: cannot connect to {self.base_url}: {exc}")
        if isinstance(exc, httpx.TransportError):
            return LLMServerError(f"{self.name}: {model} connection broke: {exc}")
        return None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            import httpx

            headers = self._default_headers()
            self._client = httpx.AsyncClient(
                headers=headers,
                # Reads are bounded tighter by the stream loop; this is the backstop.
                timeout=httpx.Timeout(
                    max(self.timeout, self.stream_idle_timeout), connect=self.connect_timeout
                ),
                # A plain-http server needs no CA bundle; verify=False builds a bare context and
                # skips loading certifi's certificates.
                verify=not self.base_url.startswith("http://"),
                follow_redirects=False,
            )
        return self._client

    async def stream(self, model: str, request: LLMRequest) -> AsyncGenerator[TextDelta | LLMResult, None]:
        """Yields TextDeltas as they arrive, then one LLMResult; failures raise LLMError subclasses."""
        body = msgspec.json.encode(self._body(model, request))
        url = f"{self.base_url}/chat/completions"
        started = time.monotonic()
        assembler = StreamAssembler()
        request_id = ""
        empty = False
        log.info("llm request provider=%s model=%s messages=%d tools=%d",
                 self.name, model, len(request.messages), len(request.tools))
        try:
            async with self._post_stream(url, body) as response:
                request_id = response.headers.get("x-request-id", "")
                if response.status_code >= 300:
                    raise self._status_error(response, await response.aread(), model)
                if response.headers.get("content-type", "").startswith("application/json"):
                    # A server that ignores `stream: true` answers with one whole completion.
                    text = self._whole(await response.aread(), assembler)
                    if text:
                        yield TextDelta(text)
                else:
                    try:
                        async with aclosing(self._events(response, assembler)) as texts:
                            async for text in texts:
                                yield TextDelta(text)
                    except EmptyStreamError:
                        empty = True
            if empty:
                # llama-cpp-python answers a prompt longer than its window with an empty 200 stream;
                # asked again without streaming it says why (a 400 naming the window), which turns
                # into a ContextOverflowError the core learns the window from.
                text = await self._unstreamed(model, request, assembler)
                if text:
                    yield TextDelta(text)
        except Exception as exc:
            mapped = self._transport_error(exc, model)
            if mapped is None:
                raise
            raise mapped from exc
        log.info(
            "llm done provider=%s model=%s id=%s request_id=%s finish=%s chunks=%d seconds=%.2f",
            self.name, model, assembler.response_id, request_id, assembler.finish_reason,
            assembler.content_chunks, time.monotonic() - started,
        )
        yield LLMResult(
            message=assembler.message(),
            finish_reason=assembler.finish_reason or "stop",
            usage=assembler.final_usage(),
            model=f"{self.name}/{model}",
            provider=self.name,
        )

    async def _unstreamed(self, model: str, request: LLMRequest, assembler: StreamAssembler) -> str:
        """The same request without streaming, on a fresh connection (the server may have closed the
        one whose stream came back empty)."""
        import httpx

        body = msgspec.json.encode(self._body(model, request, stream=False))
        headers = dict(self._http().headers)
        async with httpx.AsyncClient(headers=headers, timeout=self._http().timeout,
                                     verify=not self.base_url.startswith("http://")) as client:
            response = await client.post(f"{self.base_url}/chat/completions", content=body,
                                         headers={"content-type": "application/json", "accept": "application/json"})
        if response.status_code >= 300:
            raise self._status_error(response, response.content, model)
        return self._whole(response.content, assembler)

    def _body(self, model: str, request: LLMRequest, *, stream: bool = True) -> dict[str, Any]:
        body = request_body(model, request, stream=stream)
        if self.keep_alive is not None:
            body["keep_alive"] = self.keep_alive
        return body

    def _whole(self, body: bytes, assembler: StreamAssembler) -> str:
        try:
            text: str = assembler.add_completion(msgspec.json.decode(body))
        except (msgspec.DecodeError, AttributeError, TypeError) as exc:
            raise LLMServerError(f"{self.name}: the server sent a completion that is not JSON") from exc
        except ChunkError as exc:
            raise LLMServerError(f"{self.name}: error in the completion: {exc}") from exc
        if assembler.finish_reason is None:
            raise LLMServerError(f"{self.name}: the completion has no finish reason")
        return text

    async def complete(self, model: str, request: LLMRequest) -> LLMResult:
        """The whole answer, read through the streaming path."""
        async with aclosing(self.stream(model, request)) as items:
            async for item in items:
                if isinstance(item, LLMResult):
                    return item
        raise LLMServerError(f"{self.name}: the stream ended without a result")

    async def _events(
        self, response: httpx.Response | HTTPResponse, assembler: StreamAssembler
    ) -> AsyncGenerator[str, None]:
        """The text of each chunk, until `[DONE]`; raises when the stream stalls or is cut."""
        decoder = SSEDecoder()
        lines = response.aiter_lines()
        seen_any = False
        limit = self.timeout  # the first event may wait for prompt processing; later ones may not
        deadline = None if self.total_timeout is None else time.monotonic() + self.total_timeout
        while True:
            line: str | None = None
            wait = limit if deadline is None else min(limit, max(0.0, deadline - time.monotonic()))
            with anyio.move_on_after(wait) as scope:
                line = await anext(lines, None)
            if scope.cancelled_caught:
                if wait < limit:
                    raise LLMUnavailableError(
                        f"{self.name}: the answer took longer than {self.total_timeout:g} s (llm.requestTimeoutSeconds)"
                    )
                raise LLMUnavailableError(f"{self.name}: the stream stalled (nothing for {limit:g} s)")
            seen_any = seen_any or bool(line)
            event = decoder.flush() if line is None else decoder.feed(line)
            if event is not None:
                limit = self.stream_idle_timeout
                done, text = self._apply(event, assembler)
                if text:
                    yield text
                if done:
                    # Reading to the end of the body lets httpx reuse the connection for the next call.
                    with anyio.move_on_after(1):
                        async for _ in lines:
                            pass
                    return
            if line is None:
                break
        if assembler.finish_reason is None:
            if not seen_any:
                raise EmptyStreamError(f"{self.name}: the server answered 200 with an empty stream")
            raise LLMServerError(f"{self.name}: the stream ended before its finish reason (cut)")

    def _apply(self, event: SSEEvent, assembler: StreamAssembler) -> tuple[bool, str]:
        if event.data.strip() == "[DONE]":
            return True, ""
        try:
            chunk: Any = msgspec.json.decode(event.data)
        except msgspec.DecodeError as exc:
            raise LLMServerError(f"{self.name}: the server sent a chunk that is not JSON: "
                                 f"{event.data[:120]!r}") from exc
        if not isinstance(chunk, dict):
            raise LLMServerError(f"{self.name}: the server sent a chunk that is not an object")
        try:
            return False, assembler.add(chunk)
        except ChunkError as exc:
            raise LLMServerError(f"{self.name}: error inside the stream: {exc}") from exc

    def _status_error(self, response: httpx.Response | HTTPResponse, body: bytes, model: str) -> LLMError:
        status = response.status_code
        detail = error_message(body)
        where = f"{self.name}: {model} answered HTTP {status}"
        log.warning("llm http error provider=%s model=%s status=%d request_id=%s",
                    self.name, model, status, response.headers.get("x-request-id", ""))
        overflow = overflow_error(status, detail)
        if overflow is not None:  # not retryable: the same prompt would overflow again
            return ContextOverflowError(f"{where}: {detail}", overflow.reported, overflow.window)
        if status == 429:
            return rate_limited(f"{where}: {detail}", _retry_after(response.headers))
        if status >= 500:
            return LLMServerError(f"{where}: {detail}")
        if status in (408,):
            return LLMUnavailableError(f"{where}: {detail}")
        return LLMRequestError(f"{where}: {detail}")


def _retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from `retry-after-ms` (OpenAI) or `Retry-After` (seconds or an HTTP date)."""
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
