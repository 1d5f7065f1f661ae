"""An instant OpenAI-compatible chat server for benchmarks: answers before the gateway can blink.

Run as a process (``python -m benchmarks.stub_llm --port 0``; it prints ``port <n>`` once it
listens). ``POST /v1/chat/completions`` answers at once, streamed (SSE, one content chunk, a finish
chunk with usage, ``[DONE]``) when the body says ``"stream": true``, else one JSON completion.
Everything is written in one ``write`` with a Content-Length, on keep-alive connections.

Admin routes: ``GET /_stub/requests`` returns the last few request bodies (a JSON list of the
decoded bodies, oldest first), ``POST /_stub/reset`` forgets them. ``GET /v1/models`` lists one
model. Bodies are parsed only enough to read ``stream`` and ``model`` (a byte search, not a JSON
decode) so that the stub costs the client as little as possible.

Plain asyncio protocol, uvloop when installed: no framework, so the stub's own latency is a few
tens of microseconds and the gateway's overhead stands out against it.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import re
import sys
from typing import Any, cast

REPLY_TEXT = "Hello! How can I help?"
KEPT_REQUESTS = 8
MAX_HEADER_BYTES = 64 * 1024

_STREAM_TRUE = re.compile(rb'"stream"\s*:\s*true')
_MODEL = re.compile(rb'"model"\s*:\s*"([^"]*)"')


def _sse_reply(model: str) -> bytes:
    base = {"id": "chatcmpl-stub", "object": "chat.completion.chunk", "created": 0, "model": model}
    chunks = [
        {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": REPLY_TEXT},
                              "finish_reason": None}]},
        {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        {**base, "choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 6, "total_tokens": 7}},
    ]
    events = b"".join(b"data: " + json.dumps(c, separators=(",", ":")).encode() + b"\n\n" for c in chunks)
    return events + b"data: [DONE]\n\n"


def _json_reply(model: str) -> bytes:
    completion = {
        "id": "chatcmpl-stub", "object": "chat.completion", "created": 0, "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": REPLY_TEXT},
                     "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 6, "total_tokens": 7},
    }
    return json.dumps(completion, separators=(",", ":")).encode()


def _response(status: str, content_type: bytes, body: bytes) -> bytes:
    head = (
        b"HTTP/1.1 " + status.encode() + b"\r\ncontent-type: " + content_type
        + b"\r\ncontent-length: " + str(len(body)).encode() + b"\r\n\r\n"
    )
    return head + body


class StubState:
    """What the stub remembers: the last few request bodies and a cache of encoded replies."""

    def __init__(self) -> None:
        self.requests: collections.deque[bytes] = collections.deque(maxlen=KEPT_REQUESTS)
        self._replies: dict[tuple[bool, bytes], bytes] = {}

    def completion(self, body: bytes) -> bytes:
        self.requests.append(body)
        stream = _STREAM_TRUE.search(body) is not None
        match = _MODEL.search(body)
        model = match.group(1) if match else b"stub"
        key = (stream, model)
        reply = self._replies.get(key)
        if reply is None:
            name = model.decode(errors="replace")
            if stream:
                reply = _response("200 OK", b"text/event-stream", _sse_reply(name))
            else:
                reply = _response("200 OK", b"application/json", _json_reply(name))
            self._replies[key] = reply
        return reply

    def handle(self, method: bytes, path: bytes, body: bytes) -> bytes:
        if method == b"POST" and path == b"/v1/chat/completions":
            return self.completion(body)
        if method == b"GET" and path == b"/_stub/requests":
            decoded: list[Any] = [json.loads(b) for b in self.requests]
            return _response("200 OK", b"application/json", json.dumps(decoded).encode())
        if method == b"POST" and path == b"/_stub/reset":
            self.requests.clear()
            return _response("200 OK", b"application/json", b"{}")
        if method == b"GET" and path == b"/v1/models":
            return _response("200 OK", b"application/json",
                             b'{"object":"list","data":[{"id":"stub","object":"model"}]}')
        return _response("404 Not Found", b"application/json", b'{"error":{"message":"not found"}}')


class StubProtocol(asyncio.Protocol):
    """HTTP/1.1 with Content-Length bodies and keep-alive; enough for httpx and the load client."""

    def __init__(self, state: StubState) -> None:
        self._state = state
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport, so this is a cast, not a check.
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while True:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buffer) > MAX_HEADER_BYTES:
                    self._close()
                return
            head = bytes(self._buffer[:end]).split(b"\r\n")
            length = 0
            for line in head[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            if len(self._buffer) < end + 4 + length:
                return
            body = bytes(self._buffer[end + 4 : end + 4 + length])
            del self._buffer[: end + 4 + length]
            parts = head[0].split(b" ")
            if len(parts) < 2:
                self._close()
                return
            assert self._transport is not None
            self._transport.write(self._state.handle(parts[0], parts[1], body))

    def _close(self) -> None:
        if self._transport is not None:
            self._transport.close()


async def serve(host: str, port: int) -> None:
    state = StubState()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: StubProtocol(state), host, port, backlog=1024)
    bound = server.sockets[0].getsockname()[1]
    print(f"port {bound}", flush=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        import uvloop
    except ImportError:
        runner: Any = asyncio.run
    else:
        runner = uvloop.run
    with contextlib.suppress(KeyboardInterrupt):
        runner(serve(args.host, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
