"""The lean HTTP/1.1 client of the model call (adapters/llm/http11.py) against a scripted asyncio server."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from rustyclaw.adapters.llm.http11 import (
    HTTPBroken,
    HTTPConnectError,
    HTTPTimeout,
    LeanHTTPClient,
    default_tls_context,
    lean_origin,
)

pytestmark = pytest.mark.anyio

# Reads one request (head + Content-Length body), returns it; the handler then writes what it wants.
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, list[bytes]], Awaitable[None]]


async def read_request(reader: asyncio.StreamReader) -> bytes | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length"))
    return head + await reader.readexactly(length)


@asynccontextmanager
async def server(handler: Handler, tls: ssl.SSLContext | None = None
                 ) -> AsyncIterator[tuple[int, list[bytes], list[int]]]:
    """Yields (port, requests seen, connection count); HTTPS with a server-side ``tls`` context."""
    seen: list[bytes] = []
    connections: list[int] = []
    writers: list[asyncio.StreamWriter] = []
    handlers: list[asyncio.Task[None]] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        writers.append(writer)
        task = asyncio.current_task()
        assert task is not None
        handlers.append(task)
        try:
            await handler(reader, writer, seen)
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    srv = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=tls)
    try:
        yield srv.sockets[0].getsockname()[1], seen, connections
    finally:
        srv.close()
        # Every server-side transport is closed and awaited before the test's loop ends: a handler still
        # reading gets EOF from the close, and none is left for the garbage collector to warn about.
        for writer in writers:
            writer.close()
        await asyncio.gather(*handlers, return_exceptions=True)
        await srv.wait_closed()


def client(port: int, head_timeout: float = 5.0) -> LeanHTTPClient:
    return LeanHTTPClient("127.0.0.1", port, {"authorization": "Bearer k"}, connect_timeout=2,
                          head_timeout=head_timeout)


def keep_alive_replies(reply: bytes, count: int = 10) -> Handler:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: list[bytes]) -> None:
        for _ in range(count):
            request = await read_request(reader)
            if request is None:
                return
            seen.append(request)
            writer.write(reply)
            await writer.drain()

    return handler


async def test_content_length_body_and_connection_reuse() -> None:
    reply = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\ncontent-length: 2\r\n\r\n{}"
    async with server(keep_alive_replies(reply)) as (port, seen, connections):
        http = client(port)
        for _ in range(3):
            response = await http.post("/v1/chat/completions", b'{"a":1}', {"content-type": "application/json"})
            assert response.status_code == 200
            assert response.headers["content-type"] == "application/json"
            assert await response.aread() == b"{}"
            await response.aclose()
        await http.aclose()
    assert len(connections) == 1  # keep-alive: one connection for the three requests
    assert seen[0].startswith(b"POST /v1/chat/completions HTTP/1.1\r\n")
    assert b"authorization: Bearer k\r\n" in seen[0] and seen[0].endswith(b'{"a":1}')
    assert b"host: 127.0.0.1:" in seen[0]


async def test_chunked_sse_lines() -> None:
    events = b"data: one\n\ndata: two\r\n\r\ndata: [DONE]\n\n"
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (events[:7], events[7:20], events[20:]))
    reply = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n" + chunked + b"0\r\n\r\n"
    async with server(keep_alive_replies(reply)) as (port, _, connections):
        http = client(port)
        for _ in range(2):
            response = await http.post("/x", b"", {})
            lines = [line async for line in response.aiter_lines()]
            await response.aclose()
            assert lines == ["data: one", "", "data: two", "", "data: [DONE]", ""]
        await http.aclose()
    assert len(connections) == 1


async def test_close_delimited_body_is_read_and_not_reused() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: list[bytes]) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nline1\nline2")
        await writer.drain()

    async with server(handler) as (port, _, connections):
        http = client(port)
        for _ in range(2):
            response = await http.post("/x", b"", {})
            assert [line async for line in response.aiter_lines()] == ["line1", "line2"]
            await response.aclose()
        await http.aclose()
    assert len(connections) == 2


async def test_an_idle_connection_the_server_closed_is_replaced() -> None:
    """The server answers one request per connection but says keep-alive (then closes)."""
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: list[bytes]) -> None:
        request = await read_request(reader)
        assert request is not None
        seen.append(request)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
        await writer.drain()

    async with server(handler) as (port, seen, connections):
        http = client(port)
        for _ in range(3):
            response = await http.post("/x", b"", {})
            assert await response.aread() == b"ok"
            await response.aclose()
        await http.aclose()
    assert len(seen) == 3 and len(connections) == 3


async def test_a_fresh_connection_closed_without_an_answer_is_broken() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: list[bytes]) -> None:
        await read_request(reader)

    async with server(handler) as (port, _, _connections):
        with pytest.raises(HTTPBroken):
            await client(port).post("/x", b"", {})


async def test_body_cut_short_is_broken() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: list[bytes]) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc")
        await writer.drain()

    async with server(handler) as (port, _, _connections):
        response = await client(port).post("/x", b"", {})
        with pytest.raises(HTTPBroken):
            await response.aread()
        await response.aclose()


async def test_no_head_within_the_timeout() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: list[bytes]) -> None:
        await read_request(reader)
        await reader.read()  # never answers; returns when the client gives up

    async with server(handler) as (port, _, _connections):
        with pytest.raises(HTTPTimeout):
            await client(port, head_timeout=0.2).post("/x", b"", {})


async def test_refused_connection() -> None:
    srv = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    srv.close()
    await srv.wait_closed()
    with pytest.raises(HTTPConnectError):
        await client(port).post("/x", b"", {})


def test_lean_only_for_plain_http_without_a_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    assert lean_origin("http://127.0.0.1:8080/v1") == ("127.0.0.1", 8080)
    assert lean_origin("http://models.lan/v1") == ("models.lan", 80)
    assert lean_origin("https://api.openai.com/v1") is None
    monkeypatch.setenv("http_proxy", "http://proxy.lan:3128")
    assert lean_origin("http://models.lan/v1") is None
    monkeypatch.setenv("no_proxy", "models.lan")
    assert lean_origin("http://models.lan/v1") == ("models.lan", 80)


async def test_no_content_status_has_no_body() -> None:
    reply = b"HTTP/1.1 204 No Content\r\n\r\n"
    async with server(keep_alive_replies(reply)) as (port, _, connections):
        http = client(port)
        for _ in range(2):
            response = await http.post("/x", b"", {})
            assert response.status_code == 204
            assert await response.aread() == b""
            await response.aclose()
        await http.aclose()
    assert len(connections) == 1


def test_a_connection_serves_only_its_own_event_loop() -> None:
    """A client used from two event loops one after the other opens a connection in each."""
    reply = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"
    connections: list[int] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        while await read_request(reader) is not None:
            writer.write(reply)
            await writer.drain()
        writer.close()

    async def start() -> asyncio.Server:
        return await asyncio.start_server(serve, "127.0.0.1", 0)

    import threading

    ready = threading.Event()
    holder: dict[str, object] = {}

    def run_server() -> None:
        loop = asyncio.new_event_loop()
        srv = loop.run_until_complete(start())
        holder["port"], holder["loop"], holder["srv"] = srv.sockets[0].getsockname()[1], loop, srv
        ready.set()
        loop.run_forever()
        srv.close()
        loop.run_until_complete(srv.wait_closed())
        loop.close()

    thread = threading.Thread(target=run_server)
    thread.start()
    ready.wait(5)
    http = client(int(holder["port"]))  # type: ignore[call-overload]

    async def once() -> bytes:
        response = await http.post("/x", b"", {})
        body = await response.aread()
        await response.aclose()
        return body

    first, second = asyncio.new_event_loop(), asyncio.new_event_loop()
    try:
        assert first.run_until_complete(once()) == b"ok"
        assert second.run_until_complete(once()) == b"ok"  # the first loop's connection is not used here
        second.run_until_complete(http.aclose())
        for _ in range(3):  # a few iterations of the first loop finish closing its connection
            first.run_until_complete(asyncio.sleep(0))
    finally:
        first.close()
        second.close()
        loop = holder["loop"]
        assert isinstance(loop, asyncio.AbstractEventLoop)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
    assert len(connections) == 2


async def test_a_header_value_with_a_line_break_is_never_sent() -> None:
    # h11 validates what goes out: a key or model header carrying CR/LF cannot smuggle a header.
    reply = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"
    async with server(keep_alive_replies(reply)) as (port, seen, _):
        http = client(port)
        with pytest.raises(HTTPBroken, match="invalid request"):
            await http.post("/x", b"{}", {"x-model": "m\r\nx-injected: 1"})
        response = await http.post("/x", b"{}", {})  # the client still works
        assert await response.aread() == b"{}"
        await response.aclose()
        await http.aclose()
    assert len(seen) == 1 and b"x-injected" not in seen[0]


async def test_a_100_continue_before_the_response_is_skipped_and_the_body_read() -> None:
    reply = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello"
    async with server(keep_alive_replies(reply)) as (port, _, connections):
        http = client(port)
        for _ in range(2):
            response = await http.post("/x", b"{}", {})
            assert response.status_code == 200
            assert await response.aread() == b"hello"
            await response.aclose()
        await http.aclose()
    assert len(connections) == 1


# -- HTTPS (the Telegram Bot API session, adapters/channels/aiogram_http11.py) ------------------------


def self_signed(where: Path, names: str) -> tuple[Path, Path]:
    """A self-signed certificate for ``names`` (a subjectAltName list) and its key (openssl, no network)."""
    cert, key = where / "cert.pem", where / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=rustyclaw-test",
                    "-addext", f"subjectAltName={names}"],
                   check=True, capture_output=True, timeout=60)
    return cert, key


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """For 127.0.0.1 and localhost."""
    return self_signed(tmp_path_factory.mktemp("tls"), "IP:127.0.0.1,DNS:localhost")


@pytest.fixture(scope="module")
def other_certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """For another name than the address the client connects to."""
    return self_signed(tmp_path_factory.mktemp("tls-other"), "DNS:other.test")


def server_tls(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return context


def trusting(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    """What `default_tls_context()` is, with the test's certificate as the one trusted CA."""
    return ssl.create_default_context(cafile=str(certificate[0]))


async def test_https_request_with_a_verified_certificate_and_reuse(certificate: tuple[Path, Path]) -> None:
    reply = b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\n{\"ok\":1}\n"
    async with server(keep_alive_replies(reply), tls=server_tls(certificate)) as (port, seen, connections):
        http = LeanHTTPClient("127.0.0.1", port, {}, connect_timeout=5, head_timeout=5,
                              ssl_context=trusting(certificate))
        for _ in range(2):
            response = await http.post("/bot1:x/getMe", b"a=1", {"content-type": "application/x-www-form-urlencoded"})
            assert (response.status_code, await response.aread()) == (200, b'{"ok":1}\n')
            await response.aclose()
        await http.aclose()
    assert len(connections) == 1  # keep-alive over TLS too
    assert seen[0].startswith(b"POST /bot1:x/getMe HTTP/1.1\r\n") and seen[0].endswith(b"a=1")
    assert f"host: 127.0.0.1:{port}\r\n".encode() in seen[0]


async def test_https_refuses_a_certificate_it_does_not_trust(certificate: tuple[Path, Path]) -> None:
    reply = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"
    async with server(keep_alive_replies(reply), tls=server_tls(certificate)) as (port, seen, _connections):
        # The system's CAs (the default context) do not know the self-signed certificate.
        http = LeanHTTPClient("127.0.0.1", port, {}, connect_timeout=5, head_timeout=5,
                              ssl_context=default_tls_context())
        with pytest.raises(HTTPConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await http.post("/x", b"", {})
    assert seen == []  # no request was sent over an unverified connection


async def test_https_refuses_a_trusted_certificate_for_another_name(other_certificate: tuple[Path, Path]) -> None:
    reply = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"
    async with server(keep_alive_replies(reply), tls=server_tls(other_certificate)) as (port, seen, _connections):
        http = LeanHTTPClient("127.0.0.1", port, {}, connect_timeout=5, head_timeout=5,
                              ssl_context=trusting(other_certificate))
        with pytest.raises(HTTPConnectError, match="IP address mismatch"):
            await http.post("/x", b"", {})
    assert seen == []


def test_the_default_tls_context_verifies_certificates_and_names() -> None:
    context = default_tls_context()
    assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname
    assert context is default_tls_context()  # made once (loading the CA store costs memory)


def test_without_a_system_ca_store_certifi_s_bundle_is_trusted(monkeypatch: pytest.MonkeyPatch,
                                                               tmp_path: Path) -> None:
    import certifi

    from rustyclaw.adapters.llm import http11

    empty = tmp_path / "certs"
    empty.mkdir()
    nowhere = ssl.DefaultVerifyPaths(str(tmp_path / "none.pem"), str(empty), "SSL_CERT_FILE", "",
                                     "SSL_CERT_DIR", "")
    monkeypatch.setattr(ssl, "get_default_verify_paths", lambda: nowhere)
    loaded: list[str | None] = []
    real = ssl.create_default_context

    def create_default_context(*args: object, cafile: str | None = None, **kwargs: object) -> ssl.SSLContext:
        loaded.append(cafile)
        return real(cafile=cafile)

    monkeypatch.setattr(ssl, "create_default_context", create_default_context)
    http11.default_tls_context.cache_clear()
    try:
        context = http11.default_tls_context()
    finally:
        http11.default_tls_context.cache_clear()
    assert loaded == [certifi.where()] and context.verify_mode is ssl.CERT_REQUIRED


async def test_a_per_request_head_timeout_replaces_the_clients() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: list[bytes]) -> None:
        await read_request(reader)
        await reader.read()  # a long poll that never ends; returns when the client gives up

    async with server(handler) as (port, _, _connections):
        with pytest.raises(HTTPTimeout, match=r"within 0\.2 s"):
            await client(port, head_timeout=30).request("POST", "/x", b"", head_timeout=0.2)


async def test_the_body_as_bytes_as_it_arrives() -> None:
    body = bytes(range(256)) * 1024
    reply = b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % len(body) + body
    async with server(keep_alive_replies(reply)) as (port, _, connections):
        http = client(port)
        for _ in range(2):
            response = await http.post("/file", b"", {})
            assert b"".join([chunk async for chunk in response.aiter_bytes()]) == body
            await response.aclose()
        await http.aclose()
    assert len(connections) == 1


def test_https_origins_and_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in [n for n in os.environ if n.lower().endswith("_proxy")]:
        monkeypatch.delenv(name)
    both = ("http", "https")
    assert lean_origin("https://api.telegram.org/bot1:x/getMe", both) == ("api.telegram.org", 443)
    assert lean_origin("https://127.0.0.1:8443/x", both) == ("127.0.0.1", 8443)
    assert lean_origin("https://api.telegram.org/x") is None  # plain http only unless asked
    assert lean_origin("ftp://example.org/x", ("ftp",)) is None
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.lan:3128")
    assert lean_origin("https://api.telegram.org/x", both) == ("api.telegram.org", 443)  # not for https
    monkeypatch.setenv("https_proxy", "http://proxy.lan:3128")
    assert lean_origin("https://api.telegram.org/x", both) is None
    monkeypatch.setenv("NO_PROXY", ".telegram.org")
    assert lean_origin("https://api.telegram.org/x", both) == ("api.telegram.org", 443)


async def test_an_address_that_never_answers_does_not_hide_the_next_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """Happy eyeballs: the host's first address (a black-holed route: its connect never completes) does
    not use up the connect timeout; the next address is tried meanwhile."""
    import socket

    reply = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"
    async with server(keep_alive_replies(reply)) as (port, _, connections):
        loop = asyncio.get_running_loop()

        async def getaddrinfo(host: object, port_: object, *args: object, **kwargs: object) -> list[object]:
            tcp = (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "")
            return [(*tcp, ("192.0.2.1", port)), (*tcp, ("127.0.0.1", port))]

        real_connect = loop.sock_connect

        async def sock_connect(sock: socket.socket, address: tuple[str, int]) -> None:
            if address[0] == "192.0.2.1":  # (RFC 5737) black-holed: never connects
                await asyncio.Event().wait()
            await real_connect(sock, address)

        monkeypatch.setattr(loop, "getaddrinfo", getaddrinfo)
        monkeypatch.setattr(loop, "sock_connect", sock_connect)
        http = LeanHTTPClient("dual.test", port, {}, connect_timeout=10, head_timeout=5)
        response = await http.post("/x", b"", {})
        assert await response.aread() == b"ok"
        await response.aclose()
        await http.aclose()
    assert len(connections) == 1
