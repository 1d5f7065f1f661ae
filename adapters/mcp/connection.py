"""One MCP server connection on the official `mcp` SDK, kept alive by a supervising task.

The SDK's transports are async context managers that must be entered and left in one task, so
`run()` owns them: connect, initialize, list tools, then wait (pinging now and then) until the
connection is lost or closed; a lost connection is made again after a backoff that doubles up to
a cap. Calls from turns go through `call()`, bounded by the server's request timeout, so a server
that hangs or dies costs a turn one error result, never the turn itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal

import anyio
import msgspec

from rustyclaw.adapters.mcp.settings import ServerSettings
from rustyclaw.domain.errors import MissingExtraError, ToolError

if TYPE_CHECKING:
    from mcp import ClientSession
    from mcp_types import CallToolResult
    from mcp_types import Tool as McpToolInfo

log = logging.getLogger("rustyclaw.mcp")

Status = Literal["disabled", "idle", "starting", "ready", "backoff", "stopped"]
# A server that stayed up this long had a good run: its next restart starts the backoff afresh.
_STABLE_SECONDS = 30.0
_PING_TIMEOUT = 5.0


class ServerStatus(msgspec.Struct, frozen=True, kw_only=True):
    """What `/readyz`, `rustyclaw mcp list` and the logs say about one server."""

    name: str
    transport: str
    status: Status
    tools: int
    restarts: int
    launch: str
    error: str | None = None
    retry_in: float | None = None


def import_sdk() -> Any:
    try:
        import mcp
    except ImportError as exc:
        raise MissingExtraError("mcp", "mcp", "MCP servers (mcp.servers)") from exc
    return mcp


class McpConnection:
    """A supervised connection; `on_tools` hears each (re)listing of the server's tools."""

    def __init__(
        self,
        settings: ServerSettings,
        *,
        backoff: float = 1.0,
        backoff_max: float = 60.0,
        ping_interval: float = 10.0,
        stderr_path: Path | None = None,
        on_tools: Callable[[ServerSettings, list[McpToolInfo]], None] | None = None,
    ) -> None:
        self.settings = settings
        self._backoff = backoff
        self._backoff_max = backoff_max
        self._ping_interval = ping_interval
        self._stderr_path = stderr_path
        self._stderr: IO[str] | None = None
        self._on_tools = on_tools
        self._session: ClientSession | None = None
        # asyncio events: they bind to no loop when made, so a connection can be built anywhere.
        self._ready = asyncio.Event()
        self._wanted = asyncio.Event()
        self._lost = asyncio.Event()
        self._settled = asyncio.Event()
        # Set when the server says its tool list changed (notifications/tools/list_changed).
        self._relist = asyncio.Event()
        self._closed = False
        self._status: Status = "disabled" if not settings.enabled else "idle"
        self._tools: list[McpToolInfo] = []
        self._restarts = 0
        self._error: str | None = None
        self._retry_at: float | None = None
        if settings.enabled and not settings.lazy:
            self._wanted.set()

    # -- state -------------------------------------------------------------------------------

    @property
    def tools(self) -> list[McpToolInfo]:
        return list(self._tools)

    def status(self) -> ServerStatus:
        retry = max(0.0, self._retry_at - time.monotonic()) if self._retry_at is not None else None
        return ServerStatus(
            name=self.settings.name, transport=self.settings.transport, status=self._status,
            tools=len(self._tools), restarts=self._restarts, launch=self.settings.launch(),
            error=self._error, retry_in=round(retry, 1) if retry is not None else None,
        )

    # -- lifecycle ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Connects when wanted and keeps the connection; returns after `close()`."""
        if not self.settings.enabled:
            return
        with contextlib.ExitStack() as files:
            if self._stderr_path is not None:
                self._stderr_path.parent.mkdir(parents=True, exist_ok=True)
                # Opened once per server start; a local append-only file, not worth a thread.
                self._stderr = files.enter_context(open(self._stderr_path, "a", encoding="utf-8"))  # noqa: ASYNC230
            await self._supervise()
        self._stderr = None

    async def _supervise(self) -> None:
        delay = self._backoff
        while not self._closed:
            await self._wanted.wait()
            if self._closed:
                break
            self._status = "starting"
            self._retry_at = None
            began = time.monotonic()
            try:
                await self._serve_once()
            except Exception as exc:
                self._error = _describe(exc)
                log.warning("mcp server %s failed: %s", self.settings.name, self._error)
            finally:
                self._session = None
                self._ready.clear()
                self._settled.set()
            if self._closed:
                break
            if time.monotonic() - began > _STABLE_SECONDS:
                delay = self._backoff
            self._restarts += 1
            self._status = "backoff"
            self._retry_at = time.monotonic() + delay
            log.info("mcp server %s: restarting in %.1fs", self.settings.name, delay)
            await anyio.sleep(delay)
            delay = min(delay * 2, self._backoff_max)
        self._status = "stopped"

    def want(self) -> None:
        """Start a lazy server now, in the background."""
        self._wanted.set()

    async def settled(self) -> None:
        """Returns once the first connection attempt has succeeded or failed (bounded)."""
        with anyio.move_on_after(self.settings.connect_timeout + 1):
            await self._settled.wait()

    def close(self) -> None:
        self._closed = True
        self._wanted.set()
        self._lost.set()

    async def _serve_once(self) -> None:
        s = self.settings
        self._lost.clear()
        async with contextlib.AsyncExitStack() as stack:
            # Only the requests are timed: the transports' task groups must not sit inside a scope
            # that ends before they do. The handshake is where a dead URL or a mute process shows.
            session = await stack.enter_async_context(self._open())
            try:
                with anyio.fail_after(s.connect_timeout):
                    await session.initialize()
                    listing = await session.list_tools()
            except Exception as exc:
                # Settled now: stopping the process (below) may take a while longer.
                self._error = _describe(exc)
                self._settled.set()
                raise
            tools = sorted(listing.tools, key=lambda t: t.name)
            self._tools = tools
            self._session = session
            self._status = "ready"
            self._error = None
            self._ready.set()
            self._settled.set()
            log.info("mcp server %s ready: %d tools", s.name, len(tools))
            if self._on_tools is not None:
                self._on_tools(s, tools)
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._watch, session, tg.cancel_scope)
                await self._lost.wait()
                tg.cancel_scope.cancel()
        if not self._closed and self._error is None:
            self._error = "connection lost"

    @contextlib.asynccontextmanager
    async def _open(self) -> AsyncIterator[ClientSession]:
        mcp = import_sdk()
        s = self.settings
        async with contextlib.AsyncExitStack() as stack:
            if s.transport == "stdio":
                params = mcp.StdioServerParameters(
                    command=s.command or "", args=list(s.args), env=dict(s.env) or None,
                    cwd=str(s.cwd) if s.cwd is not None else None,
                )
                streams = await stack.enter_async_context(mcp.stdio_client(params, errlog=self._stderr or sys.stderr))
            elif s.transport == "sse":
                from mcp.client.sse import sse_client

                streams = await stack.enter_async_context(sse_client(
                    s.url or "", headers=dict(s.headers) or None, timeout=s.connect_timeout,
                ))
            else:
                import httpx2
                from mcp.client.streamable_http import streamable_http_client
                from mcp.shared._httpx_utils import create_mcp_http_client

                # The SDK's own client factory (its redirect rules), with this server's headers.
                client = await stack.enter_async_context(create_mcp_http_client(
                    headers=dict(s.headers) or None,
                    timeout=httpx2.Timeout(s.connect_timeout, read=max(300.0, s.request_timeout)),
                ))
                streams = await stack.enter_async_context(streamable_http_client(s.url or "", http_client=client))
            read, write = streams[0], streams[1]
            session = await stack.enter_async_context(mcp.ClientSession(read, write, message_handler=self._on_message))
            yield session

    async def _on_message(self, message: object) -> None:
        from mcp_types import ToolListChangedNotification

        if isinstance(message, ToolListChangedNotification):
            self._relist.set()

    async def _watch(self, session: ClientSession, scope: anyio.CancelScope) -> None:
        """Pings an idle server so a crash is noticed (and the server restarted) between turns, and
        lists its tools again when it says they changed."""
        while True:
            with anyio.move_on_after(self._ping_interval):
                await self._relist.wait()
            if self._relist.is_set():
                self._relist.clear()
                try:
                    with anyio.fail_after(self.settings.request_timeout):
                        listing = await session.list_tools()
                except Exception as exc:
                    self._mark_lost(f"listing its changed tools failed: {_describe(exc)}")
                    return
                self._tools = sorted(listing.tools, key=lambda t: t.name)
                log.info("mcp server %s: tools changed, now %d", self.settings.name, len(self._tools))
                if self._on_tools is not None:
                    self._on_tools(self.settings, self._tools)
                continue
            if not await self._alive(session):
                self._mark_lost("did not answer a ping")
                return

    def _mark_lost(self, error: str) -> None:
        """Later calls wait for the restarted server instead of using the dead session."""
        self._error = error
        self._session = None
        self._ready.clear()
        self._lost.set()

    async def _alive(self, session: ClientSession) -> bool:
        try:
            with anyio.fail_after(_PING_TIMEOUT):
                await session.send_ping()
            return True
        except Exception:
            return False

    # -- use ---------------------------------------------------------------------------------

    async def ensure(self) -> ClientSession:
        """The live session, starting a lazy server; waits at most the connect timeout."""
        if self._closed:
            raise ToolError(f"MCP server '{self.settings.name}' is shut down")
        if not self.settings.enabled:
            raise ToolError(f"MCP server '{self.settings.name}' is disabled")
        self._wanted.set()
        session = self._session
        if session is not None:
            return session
        if self._retry_at is not None and self._retry_at - time.monotonic() > self.settings.connect_timeout:
            # A long backoff: say so now rather than hold the turn for the whole connect timeout.
            wait = self._retry_at - time.monotonic()
            raise ToolError(f"MCP server '{self.settings.name}' is restarting in {wait:.0f}s ({self._error})")
        with anyio.move_on_after(self.settings.connect_timeout):
            await self._ready.wait()
        if self._session is None:
            why = f": {self._error}" if self._error else ""
            raise ToolError(f"MCP server '{self.settings.name}' is not available{why}")
        return self._session

    async def call(self, tool: str, arguments: dict[str, Any]) -> CallToolResult:
        """One tools/call, bounded by the request timeout; failures come back as ToolError."""
        session = await self.ensure()
        timeout = self.settings.request_timeout
        try:
            with anyio.fail_after(timeout):
                result = await session.call_tool(tool, arguments)
        except TimeoutError:
            # A server that cannot even answer a ping is stuck: restart it for the next call.
            if not await self._alive(session):
                self._mark_lost(f"hung (no answer within {timeout:g}s)")
            raise ToolError(
                f"MCP server '{self.settings.name}' did not answer {tool} within {timeout:g}s"
            ) from None
        except Exception as exc:
            if _connection_lost(exc):
                self._mark_lost(_describe(exc))
                raise ToolError(
                    f"MCP server '{self.settings.name}' went away during {tool}; it is being restarted"
                ) from exc
            raise ToolError(f"MCP server '{self.settings.name}' refused {tool}: {_describe(exc)}") from exc
        from mcp_types import CallToolResult

        if not isinstance(result, CallToolResult):
            raise ToolError(f"MCP server '{self.settings.name}' asked for input during {tool}; that is not supported")
        return result


def _connection_lost(exc: BaseException) -> bool:
    if isinstance(exc, anyio.ClosedResourceError | anyio.BrokenResourceError | anyio.EndOfStream | OSError):
        return True
    code = getattr(getattr(exc, "error", None), "code", None)
    if code is None:
        code = getattr(exc, "code", None)
    from mcp_types import CONNECTION_CLOSED

    return bool(code == CONNECTION_CLOSED)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        return _describe(exc.exceptions[0])
    if isinstance(exc, TimeoutError):
        return "timed out"
    error = getattr(exc, "error", None)
    message = getattr(error, "message", None)
    text = (message if isinstance(message, str) else str(exc)).strip() or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."
