"""A lean HTTP/1.1 load client: keep-alive connections, one per simulated session, latencies in seconds.

httpx costs hundreds of microseconds of client CPU per request, which on a 2-core machine would
compete with the gateway being measured; this client is an asyncio Protocol that writes prebuilt
request bytes and parses only the status line, Content-Length and chunked framing. A request's
latency runs from the write to the last byte of its response (the whole SSE stream for streamed
replies).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

T = TypeVar("T")


class ResponseError(Exception):
    """A response that is not a 200, or an HTTP framing the client does not understand."""


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes


def parse_response(buffer: bytes | bytearray) -> tuple[int, Response] | None:
    """``(bytes consumed, response)`` when ``buffer`` holds a whole response, else None.

    Understands Content-Length and chunked bodies (the chunks are joined); a response with neither
    is refused (this client never asks for connection-close framing).
    """
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return None
    lines = bytes(buffer[:end]).split(b"\r\n")
    try:
        status = int(lines[0].split(b" ", 2)[1])
    except (IndexError, ValueError) as exc:
        raise ResponseError(f"bad status line {lines[0]!r}") from exc
    length: int | None = None
    chunked = False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value.strip())
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    start = end + 4
    if chunked:
        return _parse_chunked(buffer, start, status)
    if length is None:
        if status in (204, 304):
            return start, Response(status, b"")
        raise ResponseError("response without Content-Length or chunked encoding")
    if len(buffer) < start + length:
        return None
    return start + length, Response(status, bytes(buffer[start : start + length]))


def _parse_chunked(buffer: bytes | bytearray, position: int, status: int) -> tuple[int, Response] | None:
    parts: list[bytes] = []
    while True:
        line_end = buffer.find(b"\r\n", position)
        if line_end < 0:
            return None
        size_text = bytes(buffer[position:line_end]).split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError as exc:
            raise ResponseError(f"bad chunk size {size_text!r}") from exc
        data_start = line_end + 2
        if size == 0:
            # No trailers are expected: the body ends with an empty line.
            if len(buffer) < data_start + 2:
                return None
            return data_start + 2, Response(status, b"".join(parts))
        if len(buffer) < data_start + size + 2:
            return None
        parts.append(bytes(buffer[data_start : data_start + size]))
        position = data_start + size + 2


class Connection(asyncio.Protocol):
    """One keep-alive connection; ``request`` sends prebuilt bytes and waits for the whole response."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._waiter: asyncio.Future[Response] | None = None
        self._transport: asyncio.Transport | None = None

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        loop = asyncio.get_running_loop()
        _, protocol = await loop.create_connection(cls, host, port)
        return protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport, so this is a cast, not a check.
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        try:
            parsed = parse_response(self._buffer)
        except ResponseError as exc:
            waiter.set_exception(exc)
            return
        if parsed is not None:
            consumed, response = parsed
            del self._buffer[:consumed]
            waiter.set_result(response)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(ResponseError(f"connection closed mid-response ({exc})"))

    async def request(self, data: bytes) -> Response:
        assert self._transport is not None
        self._waiter = asyncio.get_running_loop().create_future()
        self._transport.write(data)
        return await self._waiter

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


def post_json(host: str, port: int, path: str, body: dict[str, Any]) -> bytes:
    """The bytes of a keep-alive ``POST`` of ``body`` as JSON."""
    payload = json.dumps(body, separators=(",", ":")).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nhost: {host}:{port}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(payload)}\r\n\r\n"
    )
    return head.encode() + payload


def chat_request(host: str, port: int, user: str, text: str, *, stream: bool, model: str = "stub") -> bytes:
    """``POST /v1/chat/completions`` for session ``user`` with one user message."""
    body = {"model": model, "user": user, "stream": stream, "messages": [{"role": "user", "content": text}]}
    return post_json(host, port, "/v1/chat/completions", body)


async def run_sessions(
    host: str, port: int, sessions: Sequence[Sequence[bytes]], concurrency: int
) -> list[float]:
    """Runs the sessions ``concurrency`` at a time, each session's requests in order on one connection.

    ``concurrency`` workers each hold a keep-alive connection and take the next waiting session
    until none is left. Returns every request's latency in seconds. Raises ResponseError on the
    first non-200 response.
    """
    waiting = iter(sessions)

    async def worker() -> list[float]:
        connection = await Connection.open(host, port)
        latencies: list[float] = []
        try:
            for requests in waiting:
                for data in requests:
                    started = time.perf_counter()
                    response = await connection.request(data)
                    latencies.append(time.perf_counter() - started)
                    if response.status != 200:
                        raise ResponseError(f"HTTP {response.status}: {response.body[:300]!r}")
        finally:
            connection.close()
        return latencies

    results = await asyncio.gather(*(worker() for _ in range(max(1, min(concurrency, len(sessions))))))
    return [latency for latencies in results for latency in latencies]


async def run_paced(host: str, port: int, sessions: Sequence[Sequence[bytes]], interval: float) -> list[float]:
    """Every session on its own connection at once, each sending one request per ``interval`` seconds.

    The sessions' schedules are spread evenly over the interval, so the offered load is
    ``len(sessions) / interval`` requests per second whatever the latency (a request that falls
    behind its schedule is sent as soon as the previous one returns). Returns latencies in seconds.
    """
    count = len(sessions)
    origin = time.perf_counter() + 0.05

    async def session(index: int, requests: Sequence[bytes]) -> list[float]:
        connection = await Connection.open(host, port)
        latencies: list[float] = []
        try:
            for number, data in enumerate(requests):
                due = origin + (index / count + number) * interval
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                started = time.perf_counter()
                response = await connection.request(data)
                latencies.append(time.perf_counter() - started)
                if response.status != 200:
                    raise ResponseError(f"HTTP {response.status}: {response.body[:300]!r}")
        finally:
            connection.close()
        return latencies

    results = await asyncio.gather(*(session(i, r) for i, r in enumerate(sessions)))
    return [latency for latencies in results for latency in latencies]


def chat_load_paced(
    host: str, port: int, *, sessions: int, per_session: int, rate: float, stream: bool, prefix: str,
    text: str = "hi",
) -> list[float]:
    """``sessions`` sessions open at once, ``per_session`` requests each, ``rate`` requests/s in total."""
    plan = [[chat_request(host, port, f"{prefix}-{i}", text, stream=stream)] * per_session for i in range(sessions)]
    return run_async(lambda: run_paced(host, port, plan, sessions / rate))


def chat_load(
    host: str, port: int, *, sessions: int, per_session: int, concurrency: int, stream: bool, prefix: str,
    text: str = "hi", model: str = "stub",
) -> list[float]:
    """``sessions`` x ``per_session`` chat requests, ``concurrency`` sessions at a time (users ``<prefix>-<i>``)."""
    plan = [[chat_request(host, port, f"{prefix}-{i}", text, stream=stream, model=model)] * per_session
            for i in range(sessions)]
    return run_async(lambda: run_sessions(host, port, plan, concurrency))


def run_async(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Runs a coroutine on a fresh uvloop loop when uvloop is installed, else on asyncio's."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(factory())
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(factory())


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank ``q`` percentile (0 < q <= 100) of ``values``."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 < q <= 100:
        raise ValueError(f"percentile {q} outside (0, 100]")
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))  # ceil without floats
    return ordered[int(rank) - 1]
