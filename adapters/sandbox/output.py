"""Capturing a command's stdout and stderr separately, each capped, from the engine's stream."""

from __future__ import annotations

import struct
from typing import Protocol

STDOUT = 1
STDERR = 2
_HEADER = struct.Struct(">BxxxI")


class CappedBuffer:
    """Keeps the first `limit` bytes written and counts the rest, so huge output costs no memory."""

    __slots__ = ("_data", "dropped", "limit")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._data = bytearray()
        self.dropped = 0

    def write(self, chunk: bytes) -> None:
        room = self.limit - len(self._data)
        if room > 0:
            self._data += chunk[:room]
        self.dropped += max(0, len(chunk) - max(room, 0))

    @property
    def truncated(self) -> bool:
        return self.dropped > 0

    def text(self) -> str:
        """The kept bytes as text, plus a marker saying how much was cut."""
        text = bytes(self._data).decode("utf-8", errors="replace")
        if self.dropped:
            text += f"\n[... {self.dropped} bytes truncated]"
        return text


class Readable(Protocol):
    def read(self, n: int, /) -> bytes | None: ...


def _read_exactly(stream: Readable, n: int) -> bytes | None:
    data = bytearray()
    while len(data) < n:
        chunk = stream.read(n - len(data))
        if not chunk:
            return None
        data += chunk
    return bytes(data)


def pump_frames(stream: Readable, stdout: CappedBuffer, stderr: CappedBuffer) -> None:
    """Reads Docker's multiplexed stream (8-byte header: stream id, 3 pad, big-endian size) to EOF.

    Blocking; runs in a worker thread. Returns when the engine closes the stream (the command
    ended or its container was killed) or the socket is shut down.
    """
    try:
        while True:
            header = _read_exactly(stream, _HEADER.size)
            if header is None:
                return
            kind, size = _HEADER.unpack(header)
            payload = _read_exactly(stream, size)
            if payload is None:
                return
            (stderr if kind == STDERR else stdout).write(payload)
    except (OSError, ValueError):
        # The socket was shut down under us (timeout or cancellation): what we have is the output.
        return
