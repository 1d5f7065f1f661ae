"""A small server-sent events decoder: lines in, events out (the WHATWG event-stream rules we need)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SSEEvent:
    """One dispatched event; `data` joins the event's `data:` lines with newlines."""

    data: str
    event: str = "message"
    id: str | None = None


class SSEDecoder:
    """Feeds one line at a time (without its line ending); returns an event when a blank line ends one.

    Comment lines (`: keepalive`) and unknown fields are ignored; `retry:` is ignored because the
    client never reconnects a chat completion. An event without any `data:` line is not dispatched.
    """

    def __init__(self) -> None:
        self._data: list[str] = []
        self._event = ""
        self._id: str | None = None

    def feed(self, line: str) -> SSEEvent | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id" and "\0" not in value:
            self._id = value
        return None

    def flush(self) -> SSEEvent | None:
        """At end of stream: the spec drops an unterminated event, but a lenient client keeps it."""
        return self._dispatch()

    def _dispatch(self) -> SSEEvent | None:
        if not self._data:
            self._event = ""
            return None
        event = SSEEvent(data="\n".join(self._data), event=self._event or "message", id=self._id)
        self._data = []
        self._event = ""
        return event
