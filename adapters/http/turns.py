"""Running one gateway call for one HTTP request: cancelled when the client goes, errors mapped to HTTP."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import anyio
import anyio.lowlevel

from rustyclaw.adapters.http.asgi import ClientGone, HttpError, Receive
from rustyclaw.domain.errors import (
    AccessDeniedError,
    BusyError,
    InvalidInputError,
    LLMError,
    RustyClawError,
    TurnCancelledError,
)
from rustyclaw.domain.events import Reply, TurnEvent
from rustyclaw.domain.messages import InboundMessage
from rustyclaw.ports.gateway import GatewayService

log = logging.getLogger(__name__)

Emit = Callable[[TurnEvent], Awaitable[None]]


def http_error_for(exc: RustyClawError) -> HttpError:
    """The response for an error the gateway raised instead of returning a Reply."""
    if isinstance(exc, InvalidInputError):
        return HttpError(400, str(exc), code="invalid_input")
    if isinstance(exc, AccessDeniedError):
        return HttpError(403, str(exc) or "access denied", type="permission_error", code="access_denied")
    if isinstance(exc, BusyError):
        return HttpError(409, str(exc) or "the session is busy", type="conflict_error", code="session_busy")
    if isinstance(exc, TurnCancelledError):
        return HttpError(
            409, str(exc) or "the turn was cancelled", type="conflict_error", code="turn_cancelled"
        )
    if isinstance(exc, LLMError):
        return HttpError(502, str(exc) or "the model failed", type="server_error", code="llm_error")
    log.error("gateway error: %s", exc, exc_info=exc)
    return HttpError(
        500, "the gateway failed to handle the message", type="server_error", code="gateway_error"
    )


def dropped() -> HttpError:
    """For a message the gateway dropped on purpose (the web channel has no duplicate ids, so: policy)."""
    return HttpError(
        403,
        "the message was not handled: the web channel's access policy does not serve this sender",
        type="permission_error",
        code="message_dropped",
    )


async def wait_for_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


class HttpTurn:
    """One `gateway.handle` call bound to one HTTP connection.

    The call runs next to a watcher of the connection; when the client disconnects (or a write to it
    fails, see `client_gone`) the call is cancelled, which the gateway turns into a clean stop of the
    turn, and `run` raises ClientGone. Domain errors come out as HttpError.
    """

    def __init__(self, gateway: GatewayService, receive: Receive) -> None:
        self._gateway = gateway
        self._receive = receive
        self._scope: anyio.CancelScope | None = None
        self.gone = False

    async def client_gone(self) -> None:
        """Called from an emit callback whose write failed: stops the turn at once."""
        self.gone = True
        if self._scope is not None:
            self._scope.cancel()
        await anyio.lowlevel.checkpoint()

    async def run(self, message: InboundMessage, emit: Emit | None = None) -> Reply | None:
        reply: Reply | None = None
        error: Exception | None = None
        async with anyio.create_task_group() as group:
            self._scope = group.cancel_scope
            group.start_soon(self._watch)
            try:
                reply = await self._gateway.handle(message, emit)
            except Exception as exc:
                error = exc
            group.cancel_scope.cancel()
        self._scope = None
        if self.gone:
            raise ClientGone
        if isinstance(error, RustyClawError):
            raise http_error_for(error) from error
        if error is not None:
            raise error
        return reply

    async def _watch(self) -> None:
        await wait_for_disconnect(self._receive)
        self.gone = True
        if self._scope is not None:
            self._scope.cancel()
