"""Session events across gateway replicas: a reply made on one replica reaches the sockets on every other.

Under `gateway.replicas` a web chat session may have a WebSocket open on replica A while its next
message is posted through replica B (a load balancer, a second tab, `POST /api/chat`). The HTTP
layer publishes each finished reply of a web session here, and every replica delivers what it hears
to its own sockets watching that session. Without replicas no bus exists (nothing is published,
nothing is opened): one process already answers every socket of its own turns.

Contract (tests/integration/test_pg_session_events.py):
- `publish` returns once the event is sent; every started bus with a subscription to the event's
  session receives it, the publishing bus included, in the order one publisher published them.
- A subscription receives every event published after `subscribe` returned (and possibly one
  published just before that was still on its way to this bus).
- Delivery is at most once and best effort: a subscriber that does not keep up, or a bus whose
  connection dropped, loses events (the transcript in the store stays the record; a client reloads it).
- `origin` is the publisher's own tag (a socket), so a subscriber can skip what it produced itself.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Protocol

import msgspec
from anyio.streams.memory import MemoryObjectReceiveStream


class SessionEvent(msgspec.Struct, frozen=True, kw_only=True):
    """One event of a session: `body` is the client frame as JSON text (the WebSocket sends it as is)."""

    session: str
    origin: str
    body: str


class SessionEvents(Protocol):
    async def start(self) -> None: ...

    async def aclose(self) -> None: ...

    async def publish(self, event: SessionEvent) -> None: ...

    def subscribe(self, session: str) -> AbstractAsyncContextManager[MemoryObjectReceiveStream[SessionEvent]]:
        """Events of `session` while the context is open."""
        ...
