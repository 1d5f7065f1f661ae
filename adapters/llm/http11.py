"""A lean keep-alive HTTP/1.1 client for the model call to a plain-http server (llama.cpp, Ollama, vLLM).

Why not httpx here: against an instant local model, httpx and httpcore were the biggest CPU item of
a turn (request and response models, cookies, a cancel scope per read, and a `select()` plus a
`getpeername()` on every pooled connection for every request). This client sends a request on
asyncio streams; the protocol itself (request framing, header validation, Content-Length, chunked
and close-delimited bodies, 1xx/204/304, keep-alive rules) is h11's, the sans-I/O HTTP/1.1 library
httpcore itself uses, so no hand-written parser sits on the model path. It serves only `http://` URLs
that no proxy applies to (`OpenAICompatProvider` keeps httpx for HTTPS, proxies and its rare
unstreamed retry), so TLS trust and proxy behaviour stay httpx's there. With an `ssl_context` it
speaks HTTPS too (aiogram's session, adapters/channels/aiogram_http11.py: the Bot API at
api.telegram.org, verified with `default_tls_context()`); proxies still are httpx's.

Connections are reused LIFO; one goes back to the pool only after its whole body was read and the
server did not ask to close it. A request that fails on a reused connection before any byte of the
response came back (the server closed it while idle) is sent once more on a fresh connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import anyio

if TYPE_CHECKING:
    import ssl

    import h11

MAX_HEADER_BYTES = 64 * 1024
# Idle connections kept; more concurrent requests than this still work, the extra connections
# are closed when their responses are done.
MAX_IDLE = 128
_READ_SIZE = 64 * 1024


class HTTPConnectError(Exception):
    """The connection could not be opened."""


class HTTPTimeout(Exception):
    """Connecting or waiting for the response head took longer than allowed."""


class HTTPBroken(Exception):
    """The connection broke, or the server sent something that is not HTTP/1.1."""


_DEFAULT_PORTS = {"http": 80, "https": 443}


def lean_origin(url: str, schemes: tuple[str, ...] = ("http",)) -> tuple[str, int] | None:
    """``(host, port)`` when this client may serve ``url`` (its scheme in ``schemes``, no proxy for it),
    else None. ``https`` URLs need a client with an ``ssl_context``."""
    parts = urlsplit(url)
    if parts.scheme not in schemes or parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    if _proxy_variables_set():
        import urllib.request  # only when a proxy may apply (it pulls in http.client, email)

        proxies = urllib.request.getproxies()
        if (parts.scheme in proxies or "all" in proxies) and not urllib.request.proxy_bypass(parts.hostname):
            return None
    return parts.hostname, parts.port or _DEFAULT_PORTS[parts.scheme]


def _proxy_variables_set() -> bool:
    """Whether any ``<scheme>_proxy`` variable is set: where ``urllib.request.getproxies()`` looks on
    POSIX (``getproxies_environment``); without one no proxy can apply."""
    return any(value and name.lower().endswith("_proxy") and name.lower() != "no_proxy"
               for name, value in os.environ.items())


def _has_entries(directory: str | None) -> bool:
    if not directory or not os.path.isdir(directory):
        return False
    with os.scandir(directory) as entries:
        return any(True for _ in entries)


@functools.cache
def default_tls_context() -> ssl.SSLContext:
    """Certificate and host name verification against the system's CAs (``ssl.create_default_context``,
    which honours SSL_CERT_FILE / SSL_CERT_DIR); certifi's bundle when the system has no CA store."""
    import ssl

    paths = ssl.get_default_verify_paths()
    if (paths.cafile and os.path.isfile(paths.cafile)) or _has_entries(paths.capath):
        return ssl.create_default_context()
    try:
        import certifi
    except ImportError:
        return ssl.create_default_context()  # nothing to trust: every handshake fails, as it should
    return ssl.create_default_context(cafile=certifi.where())


class _Connection:
    __slots__ = ("heard", "loop", "protocol", "reader", "reused", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        import h11  # with the first connection, not at start (about 1.3 MB; the idle gateway has none)

        self.reader = reader
        self.writer = writer
        self.reused = False
        self.protocol = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEADER_BYTES)
        self.heard = False  # any byte of the current response yet (no byte + EOF: a stale connection)
        # A provider may outlive one event loop (a test, a CLI run); a connection serves only its own.
        self.loop = asyncio.get_running_loop()

    def usable(self) -> bool:
        return (self.loop is asyncio.get_running_loop() and not self.writer.is_closing()
                and not self.reader.at_eof())

    async def next_event(self) -> h11.Event | type[h11.PAUSED]:
        """The next event h11 parses from the server, reading as much as it needs."""
        import h11

        while True:
            event = self.protocol.next_event()
            if event is not h11.NEED_DATA:
                return event  # type: ignore[return-value]  # (NEED_DATA is excluded just above)
            data = await self.reader.read(_READ_SIZE)
            self.heard = self.heard or bool(data)
            self.protocol.receive_data(data)  # b"": the server closed

    def reusable(self) -> bool:
        """After a whole response: both sides DONE, so h11 allows the next request on it."""
        import h11

        if self.protocol.our_state is h11.DONE and self.protocol.their_state is h11.DONE:
            self.protocol.start_next_cycle()
            return True
        return False

    def close(self) -> None:
        self.writer.close()


class HTTPResponse:
    """The head of a response and its body, read once (``aread``, ``aiter_bytes`` or ``aiter_lines``)."""

    def __init__(self, client: LeanHTTPClient, connection: _Connection, status_code: int,
                 headers: dict[str, str]) -> None:
        self._client = client
        self._connection: _Connection | None = connection
        self.status_code = status_code
        # Lower-case names; a repeated header keeps its last value (none that the caller reads repeats).
        self.headers: Mapping[str, str] = headers
        self._done = False

    async def _chunks(self) -> AsyncIterator[bytes]:
        import h11

        connection = self._connection
        if connection is None or self._done:
            return
        try:
            while True:
                event = await connection.next_event()
                if isinstance(event, h11.Data):
                    yield bytes(event.data)
                elif isinstance(event, h11.EndOfMessage):
                    break
                else:  # ConnectionClosed (or PAUSED) before the end of the body
                    raise HTTPBroken("the server closed the connection before the end of the body")
        except h11.RemoteProtocolError as exc:
            raise HTTPBroken(f"the server broke HTTP/1.1 inside the body: {exc}") from exc
        except (OSError, asyncio.IncompleteReadError) as exc:
            raise HTTPBroken(f"the connection broke while reading the body: {exc!r}") from exc
        self._done = True

    async def aread(self) -> bytes:
        return b"".join([chunk async for chunk in self._chunks()])

    def aiter_bytes(self) -> AsyncIterator[bytes]:
        """The body as it arrives (pieces of up to 64 KiB)."""
        return self._chunks()

    async def aiter_lines(self) -> AsyncIterator[str]:
        """Lines of the body as text, without their line ending (``\\n``, ``\\r\\n`` or ``\\r``)."""
        pending = ""
        async for chunk in self._chunks():
            pending += chunk.decode("utf-8", errors="replace")
            lines = pending.splitlines(keepends=True)
            # The last piece waits for more unless it ends a line (a lone "\r" might precede "\n").
            pending = "" if lines and lines[-1].endswith("\n") else (lines.pop() if lines else "")
            for line in lines:
                yield line.rstrip("\r\n")
        if pending:
            yield pending.rstrip("\r")

    async def aclose(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        if self._done and connection.reusable():
            self._client._release(connection)
        else:  # unread, cancelled mid-body, or the server said close
            connection.close()


class LeanHTTPClient:
    """Requests to one ``http://host:port`` origin (``https://`` with ``ssl_context``) with fixed headers;
    see the module's docstring."""

    def __init__(self, host: str, port: int, headers: Mapping[str, str], *, connect_timeout: float,
                 head_timeout: float, ssl_context: ssl.SSLContext | None = None) -> None:
        self._host = host
        self._port = port
        self._ssl = ssl_context
        host_header = f"[{host}]" if ":" in host else host  # an IPv6 literal
        default_port = 80 if ssl_context is None else 443
        self._host_header = host_header if port == default_port else f"{host_header}:{port}"
        self._fixed = [(name, value) for name, value in headers.items()
                       if name.lower() not in ("host", "content-length", "connection", "transfer-encoding")]
        self._connect_timeout = connect_timeout
        self._head_timeout = head_timeout
        self._idle: list[_Connection] = []

    async def post(self, path: str, body: bytes, headers: Mapping[str, str]) -> HTTPResponse:
        """Sends the request and reads the response head; the caller reads the body and closes."""
        return await self.request("POST", path, body, headers)

    async def request(self, method: str, path: str, body: bytes = b"",
                      headers: Mapping[str, str] | None = None, *,
                      head_timeout: float | None = None) -> HTTPResponse:
        """`post` for any method; a GET without a body is sent without Content-Length (the context-window
        probe's GETs, adapters/llm/model_info.py). ``head_timeout`` replaces the client's for this
        request (a long poll's answer comes only when the poll ends)."""
        import h11

        fields = [("host", self._host_header), *self._fixed, *(headers or {}).items()]
        if body or method != "GET":
            fields.append(("content-length", str(len(body))))
        try:
            request = h11.Request(method=method, target=path, headers=fields)
        except h11.LocalProtocolError as exc:  # a header value with CR/LF, say: never sent
            raise HTTPBroken(f"refused to send an invalid request: {exc}") from exc
        connection = self._take()
        if connection is not None:
            try:
                return await self._exchange(connection, request, body, head_timeout)
            except _Stale:
                pass  # closed by the server while idle: once more on a fresh connection
        try:
            with anyio.fail_after(self._connect_timeout):  # the TLS handshake included
                # Happy eyeballs (RFC 8305, as httpx and aiohttp connect): a host whose IPv6 route is
                # black-holed (api.telegram.org has both) is reached over IPv4 instead of timing out.
                reader, writer = await asyncio.open_connection(
                    self._host, self._port, limit=MAX_HEADER_BYTES, ssl=self._ssl,
                    server_hostname=self._host if self._ssl is not None else None, happy_eyeballs_delay=0.25)
        except TimeoutError as exc:
            raise HTTPTimeout(f"connecting to {self._host}:{self._port} took over {self._connect_timeout:g} s") from exc
        except OSError as exc:  # ssl.SSLError (a certificate that does not verify) among them
            raise HTTPConnectError(str(exc) or type(exc).__name__) from exc
        try:
            return await self._exchange(_Connection(reader, writer), request, body, head_timeout)
        except _Stale as exc:
            raise HTTPBroken(str(exc)) from exc

    async def _exchange(self, connection: _Connection, request: h11.Request, body: bytes,
                        head_timeout: float | None = None) -> HTTPResponse:
        import h11

        wait = self._head_timeout if head_timeout is None else head_timeout

        protocol = connection.protocol
        connection.heard = False
        try:
            data = protocol.send(request) or b""
            if body:
                data += protocol.send(h11.Data(data=body)) or b""
            data += protocol.send(h11.EndOfMessage()) or b""
            connection.writer.write(data)
            with anyio.fail_after(wait):
                await connection.writer.drain()
                while True:
                    event = await connection.next_event()
                    if not isinstance(event, h11.InformationalResponse):  # 100 Continue and the like
                        break
        except TimeoutError as exc:
            connection.close()
            raise HTTPTimeout(f"no response head within {wait:g} s") from exc
        except h11.RemoteProtocolError as exc:
            connection.close()
            if not connection.heard:  # closed without a byte of answer (h11 calls that EOF an error)
                raise _Stale("the server closed the connection without answering") from exc
            raise HTTPBroken(f"not an HTTP/1.1 response: {exc}") from exc
        except OSError as exc:
            connection.close()
            raise _Stale(f"the connection broke before the response: {exc!r}") from exc
        except BaseException:
            connection.close()
            raise
        if isinstance(event, h11.ConnectionClosed):
            connection.close()
            raise _Stale("the server closed the connection without answering")
        if not isinstance(event, h11.Response):  # PAUSED cannot come before a response: not HTTP
            connection.close()
            raise HTTPBroken(f"unexpected HTTP event before the response head: {event!r}")
        headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in event.headers}
        return HTTPResponse(self, connection, event.status_code, headers)

    def _take(self) -> _Connection | None:
        while self._idle:
            connection = self._idle.pop()
            if connection.usable():
                connection.reused = True
                return connection
            if connection.loop is asyncio.get_running_loop() or not connection.loop.is_closed():
                connection.close()  # (a closed loop's transports cannot be closed any more)
        return None

    def _release(self, connection: _Connection) -> None:
        if len(self._idle) < MAX_IDLE and connection.usable():
            self._idle.append(connection)
        else:
            connection.close()

    async def aclose(self) -> None:
        idle, self._idle = self._idle, []
        loop = asyncio.get_running_loop()
        for connection in idle:
            if connection.loop is loop or not connection.loop.is_closed():
                connection.close()
        for connection in (c for c in idle if c.loop is loop):
            with anyio.move_on_after(1), anyio.CancelScope(shield=True), contextlib.suppress(OSError):
                await connection.writer.wait_closed()


class _Stale(Exception):
    """The request got no answer at all: on a reused connection it is sent again."""
