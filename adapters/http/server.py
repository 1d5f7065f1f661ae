"""Serving the ASGI app with granian's embedded server, inside the gateway's own asyncio loop.

One process, one event loop: the HTTP worker runs as a task of the current loop (granian's Rust
runtime does the socket work), so handlers call the gateway directly, with no queue or IPC between.
The listening socket is bound by this module (through granian's socket holder) so that port 0
works and `port` tells the port really bound. Without a token the server binds only to loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import socket
from collections.abc import Callable
from typing import Any

import anyio

from rustyclaw.adapters.http.asgi import ASGIApp, HttpError, Message, Receive, Scope, Send, send_error
from rustyclaw.adapters.http.auth import is_loopback_host
from rustyclaw.domain.errors import ChannelError, ConfigError

log = logging.getLogger(__name__)

Ready = anyio.Event | Callable[[], object]

# Secure defaults: a half-open connection (headers never finished) is dropped after 10 s, a body
# must arrive within 30 s, and at most 256 requests and WebSockets are served at once.
DEFAULT_HEADER_TIMEOUT = 10.0
DEFAULT_BODY_TIMEOUT = 30.0
DEFAULT_MAX_CONNECTIONS = 256

# Incremental: granian must not replace the gateway's logging setup (a full dictConfig would close the
# handlers already installed); its loggers only get a level and propagate to the gateway's handlers.
_THREAD_EXIT_GRACE = 0.05

_LOG_CONFIG: dict[str, Any] = {
    "incremental": True,
    "handlers": {},
    "loggers": {"granian.access": {"level": "INFO"}},
}


def check_bind_allowed(host: str, token: str | None) -> None:
    """Refuses to expose a tokenless gateway beyond this machine; a blank token counts as none."""
    if (token is None or not token.strip()) and not is_loopback_host(host):
        raise ConfigError(
            f"gateway.host is {host!r}, which is reachable from other machines, and no token is set: "
            "set gateway.auth.token (e.g. auth: {token: ${RUSTYCLAW_TOKEN}}) or bind to 127.0.0.1"
        )


class HttpServer:
    """Runs an ASGI app on `host:port` in the current asyncio loop until `aclose()` or cancellation.

    `serve(ready)` returns when the server has stopped; `ready` (an anyio.Event, or a callable taking
    no argument) is signalled once the socket listens, when `port` holds the bound port (useful with
    port 0). Raises ConfigError for a tokenless non-loopback host (at construction) or a port that
    cannot be bound, ChannelError when the worker dies on its own.
    """

    def __init__(
        self,
        app: ASGIApp,
        host: str = "127.0.0.1",
        port: int = 18789,
        token: str | None = None,
        *,
        access_log: bool = False,
        log_level: str = "error",
        shutdown_timeout: float = 5.0,
        backlog: int = 1024,
        header_timeout: float = DEFAULT_HEADER_TIMEOUT,
        body_timeout: float = DEFAULT_BODY_TIMEOUT,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
    ) -> None:
        check_bind_allowed(host, token or None)
        self._app = _InFlight(app, body_timeout=body_timeout, max_connections=max_connections)
        self._header_timeout = header_timeout
        self._max_connections = max_connections
        self.host = host
        self._port = port
        self._access_log = access_log
        self._log_level = log_level
        self._shutdown_timeout = shutdown_timeout
        self._backlog = backlog
        self._server: Any = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._bound_port: int | None = None

    @property
    def in_flight(self) -> int:
        """HTTP requests and WebSockets being served now."""
        return self._app.count

    @property
    def port(self) -> int:
        """The bound port once listening (and after); the configured one before."""
        bound = getattr(self._server, "bound_port", None)
        if bound is not None:
            self._bound_port = int(bound)
        return self._bound_port or self._port

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def serve(self, ready: Ready | None = None) -> None:
        if self._task is not None:
            raise RuntimeError("HttpServer.serve() is already running")
        self._stopping = False
        server = self._build(ready)
        self._server = server
        task = asyncio.ensure_future(server.serve())
        self._task = task
        try:
            # Shielded: cancelling serve() must stop granian in order (below), not kill its task mid-way.
            await asyncio.shield(task)
        finally:
            if not task.done():
                with anyio.CancelScope(shield=True):
                    await self._stop(server, task)
            self._task = None
            self._release(server)
            with anyio.CancelScope(shield=True):
                # Lets granian's runtime threads finish exiting while the interpreter is still whole.
                await anyio.sleep(_THREAD_EXIT_GRACE)
        if not self._stopping:
            raise ChannelError("the HTTP server's worker stopped unexpectedly")

    async def aclose(self) -> None:
        """Stops accepting and closes WebSockets at once; HTTP requests in flight get `shutdown_timeout`
        to finish, then are cancelled (which cancels their gateway turns cleanly)."""
        task, server = self._task, self._server
        if task is None or task.done():
            return
        await self._stop(server, task)

    async def _stop(self, server: Any, task: asyncio.Task[None]) -> None:
        self._stopping = True
        server.stop()
        self._app.cancel("websocket")
        await asyncio.wait({task}, timeout=self._shutdown_timeout)
        if task.done():
            return
        log.warning("HTTP requests still running after %.1f s; cancelling them", self._shutdown_timeout)
        self._app.cancel("http")
        await asyncio.wait({task}, timeout=self._shutdown_timeout)
        if task.done():
            return
        log.error("the HTTP worker did not stop; killing it")
        for worker in list(server.wrks):
            worker.kill()
        task.cancel()
        await asyncio.wait({task})

    def _release(self, server: Any) -> None:
        """Drops the last references to granian's socket holder, which closes the listening socket.

        Then collects garbage: request protocol objects of granian's Rust side caught in reference
        cycles (a cancelled task's traceback holds its frames) would otherwise be freed during
        interpreter shutdown, where granian 2.8's worker thread aborts the process ("panic in a
        function that cannot unwind"; measured here in about 1 exit out of 3 after a WebSocket).
        """
        _ = self.port
        server._shd = None
        server.wrks.clear()
        self._server = None
        gc.collect()

    def _build(self, ready: Ready | None) -> Any:
        from granian.constants import Interfaces
        from granian.http import HTTP1Settings
        from granian.log import LogLevels

        server = _server_class()(
            self._app,
            address=self.host,
            port=self._port,
            interface=Interfaces.ASGINL,
            websockets=True,
            backlog=self._backlog,
            # One more than the cap, so the request over it reaches _InFlight and gets its 503 at once
            # instead of waiting, unanswered, in granian's queue.
            backpressure=self._max_connections + 1,
            # A client that opens a connection and never finishes its headers is dropped after this.
            http1_settings=HTTP1Settings(header_read_timeout=max(1, int(self._header_timeout * 1000))),
            log_level=LogLevels(self._log_level),
            log_dictconfig=_LOG_CONFIG,
            log_access=self._access_log,
        )
        if ready is not None:
            server.on_startup(lambda: _signal(ready))
        return server


class _InFlight:
    """Wraps the app so that shutdown can cancel the requests still running, and bounds clients.

    granian's graceful stop waits for every open connection, a WebSocket included, for as long as it
    stays open; cancelling the handler's task ends it cleanly (its gateway turn gets the cancellation
    too) and the client gets a 503 or a WebSocket close 1001. Plain asyncio tasks, not anyio cancel
    scopes: this wraps every request, and the server is asyncio-only anyway.

    Limits granian does not have: the request body must arrive within `body_timeout` seconds of the
    headers (else 408: a client dribbling a body cannot hold a task for good), and at most
    `max_connections` requests and WebSockets run at once (the next gets a 503, a WebSocket its
    handshake refused).
    """

    def __init__(
        self, app: ASGIApp, *, body_timeout: float = 30.0, max_connections: int = 256
    ) -> None:
        self._app = app
        self._body_timeout = body_timeout
        self._max = max_connections
        self._running: dict[asyncio.Task[Any], str] = {}
        self._cancelled: set[asyncio.Task[Any]] = set()

    @property
    def count(self) -> int:
        return len(self._running)

    def _timed(self, scope: Scope, receive: Receive) -> Receive:
        if scope["type"] != "http":
            return receive
        deadline = asyncio.get_running_loop().time() + self._body_timeout
        body_done = False

        async def timed_receive() -> Message:
            nonlocal body_done
            if body_done:  # later receives wait for a disconnect during the turn: no limit
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise HttpError(
                    408, f"the request body did not arrive within {self._body_timeout:g} s",
                    code="request_timeout",
                ) from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done = True
            return message

        return timed_receive

    def cancel(self, kind: str) -> None:
        for task, task_kind in list(self._running.items()):
            if task_kind == kind and task not in self._cancelled:
                self._cancelled.add(task)
                task.cancel()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        task = asyncio.current_task()
        assert task is not None
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = True
            await send(message)

        if scope["type"] in ("http", "websocket") and len(self._running) >= self._max:
            log.warning("refusing a %s request: %d already running (the cap)", scope["type"], self._max)
            with contextlib.suppress(Exception):
                if scope["type"] == "websocket":
                    await receive()  # websocket.connect; a close before accept refuses the handshake (403)
                    await send({"type": "websocket.close", "code": 1013})
                else:
                    await send_error(send, _too_many(self._max))
            return
        self._running[task] = scope["type"]
        try:
            await self._app(scope, self._timed(scope, receive), tracking_send)
        except HttpError as error:  # the body timeout, raised by timed_receive outside any handler
            if not started:
                with contextlib.suppress(Exception):
                    await send_error(send, error)
        except asyncio.CancelledError:
            if task not in self._cancelled:
                raise
            task.uncancel()
            with contextlib.suppress(Exception):
                if scope["type"] == "websocket":
                    await send({"type": "websocket.close", "code": 1001})
                elif scope["type"] == "http" and not started:
                    await send_error(send, _shutting_down())
        finally:
            del self._running[task]
            self._cancelled.discard(task)


def _too_many(limit: int) -> HttpError:
    return HttpError(503, f"the gateway is serving {limit} requests already; try again shortly",
                     type="server_error", code="too_many_requests", headers=[(b"retry-after", b"1")])


def _shutting_down() -> HttpError:
    return HttpError(503, "the gateway is shutting down", type="server_error", code="shutting_down")


def _signal(ready: Ready) -> None:
    if isinstance(ready, anyio.Event):
        ready.set()
    else:
        ready()


_server_cls: type[Any] | None = None


def _server_class() -> type[Any]:
    """granian's embedded Server, binding its socket itself so the bound port can be read back.

    Left alone on Linux, granian hands a socket *spec* to the worker, which binds its own socket:
    with port 0 nobody could learn the port. The socket-holder path used here is the one granian
    takes on other platforms, so the worker code it feeds is granian's own.
    """
    global _server_cls
    if _server_cls is None:
        from granian._granian import ListenerSpec
        from granian.server.embed import Server

        class _BoundServer(Server):
            bound_port: int | None = None

            def _init_shared_socket(self) -> None:
                try:
                    holder = ListenerSpec(self.bind_addr, self.bind_port, self.backlog).build()
                except (OSError, RuntimeError) as exc:
                    # granian reports bind failures as RuntimeError with a Rust backtrace appended.
                    reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                    raise ConfigError(
                        f"cannot listen on {self.bind_addr}:{self.bind_port}: {reason} "
                        "(check gateway.host and gateway.port)"
                    ) from exc
                fd: int = holder.get_fd()
                self._shd = holder  # type: ignore[assignment]
                self._sfd = fd  # type: ignore[assignment]
                self._ssp = None
                with socket.socket(fileno=os.dup(fd)) as sock:
                    # granian binds with SO_REUSEPORT, which would let a second gateway listen on the same
                    # port and take half the connections (two histories of one session). One process
                    # serves a port: without the flag on this socket, the kernel refuses any later bind.
                    if hasattr(socket, "SO_REUSEPORT"):
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 0)
                    # granian's worker starts listening only once its task runs; listening here makes
                    # connections made right after `ready` wait in the backlog instead of being refused.
                    sock.listen(self.backlog)
                    self.bound_port = sock.getsockname()[1]

        _server_cls = _BoundServer
    return _server_cls
