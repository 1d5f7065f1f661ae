"""Server-sent events over ASGI: a writer that reports a vanished client instead of raising."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from rustyclaw.adapters.http.asgi import Headers, Send

log = logging.getLogger(__name__)

SSE_HEADERS: Headers = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    # Reverse proxies (nginx) buffer responses unless told not to, which would stall the stream.
    (b"x-accel-buffering", b"no"),
]
DONE = b"data: [DONE]\n\n"


def data_event(payload: bytes) -> bytes:
    # msgspec's JSON never contains a raw newline, so one `data:` line holds the whole payload.
    return b"data: " + payload + b"\n\n"


def comment(text: str) -> bytes:
    return b": " + text.replace("\n", " ").encode() + b"\n\n"


class SseWriter:
    """Writes one SSE response. `write` returns False once the client is gone (the server refused the
    write); callers then stop producing instead of handling the server's exception types."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self.open = False

    async def start(self, headers: Iterable[tuple[bytes, bytes]] = ()) -> bool:
        try:
            await self._send({"type": "http.response.start", "status": 200, "headers": [*SSE_HEADERS, *headers]})
        except Exception as exc:
            log.debug("SSE start failed: %r", exc)
            return False
        self.open = True
        return True

    async def write(self, chunk: bytes) -> bool:
        if not self.open:
            return False
        try:
            await self._send({"type": "http.response.body", "body": chunk, "more_body": True})
        except Exception as exc:
            log.debug("SSE write failed, client gone: %r", exc)
            self.open = False
        return self.open

    async def close(self, last: bytes = b"") -> None:
        if not self.open:
            return
        self.open = False
        try:
            await self._send({"type": "http.response.body", "body": last, "more_body": False})
        except Exception as exc:
            log.debug("SSE close failed, client gone: %r", exc)
