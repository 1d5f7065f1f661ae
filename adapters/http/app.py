"""The gateway's HTTP surface as one plain ASGI application.

Plain ASGI rather than Starlette, measured here (Python 3.11, 2 cores): importing Starlette's
application, routing, request, response and WebSocket modules costs 3.2 MB of RSS on top of
asyncio + anyio + msgspec (the gateway's whole idle budget is 40 MB), and an in-process JSON POST
costs p50 11-16 us through a Starlette route against 1.5 us for a plain ASGI callable. Starlette is
also not a core dependency. Eight fixed routes need nothing a router library adds, so the few ASGI
primitives live in asgi.py instead.

Routes: `GET /` (the chat page), `GET /control`, the PWA files and `/static/...` (page.py),
`GET /healthz`, `GET /readyz`, `POST /api/chat`, WebSocket `/api/ws`, the conversation and control
routes when a ControlPlane is given (control_api.py), and when `openai_enabled`
`POST /v1/chat/completions`, `GET /v1/models` and `GET /v1/models/{id}`. Every error
is JSON in OpenAI's shape with a fitting status (400, 401, 403, 404, 405, 409, 413, 500, 502, 503);
no request can crash the server.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from rustyclaw.adapters.http.asgi import (
    ASGIApp,
    ClientGone,
    HttpError,
    Message,
    Receive,
    Scope,
    Send,
    internal_error,
    send_error,
    send_json,
)
from rustyclaw.adapters.http.auth import check_browser_origin
from rustyclaw.adapters.http.chat_api import ChatApi
from rustyclaw.adapters.http.control_api import ControlRoutes
from rustyclaw.adapters.http.idempotency import IdempotentTurns
from rustyclaw.adapters.http.openai_api import OpenAIApi
from rustyclaw.adapters.http.page import StaticSite
from rustyclaw.adapters.http.settings import HttpSettings
from rustyclaw.adapters.http.ws import WebSocketChat
from rustyclaw.ports.control import ControlPlane
from rustyclaw.ports.gateway import GatewayService
from rustyclaw.ports.session_events import SessionEvents

log = logging.getLogger(__name__)

Handler = Callable[[Scope, Receive, Send], Awaitable[None]]

__all__ = ["HttpApp", "HttpSettings", "create_app"]


# Probes from a load balancer or orchestrator carry their own Host; they read nothing private.
_UNCHECKED = frozenset({"/healthz", "/readyz"})


def create_app(gateway: GatewayService, settings: HttpSettings, control: ControlPlane | None = None,
               events: SessionEvents | None = None, idempotent: IdempotentTurns | None = None) -> ASGIApp:
    """The ASGI application serving `gateway` with `settings`; `control` adds the conversation
    list and the control page's routes (control_api.py); `events` (under gateway.replicas) relays
    web chat replies between replicas (relay.py); `idempotent` (the inbound journal) answers
    `Idempotency-Key` retries from the first attempt (idempotency.py)."""
    return HttpApp(gateway, settings, control, events, idempotent)


class HttpApp:
    """Routes requests to their handlers and turns every failure into a JSON error response."""

    def __init__(self, gateway: GatewayService, settings: HttpSettings, control: ControlPlane | None = None,
                 events: SessionEvents | None = None, idempotent: IdempotentTurns | None = None) -> None:
        self._gateway = gateway
        self._settings = settings
        chat = ChatApi(gateway, settings, events, idempotent)
        site = StaticSite()
        # Routes with a path parameter: (prefix, methods), tried in order after the exact routes.
        self._prefixes: list[tuple[str, dict[str, Handler]]] = []
        self._routes: dict[str, dict[str, Handler]] = {
            **{path: {"GET": site.serve} for path in site.paths()},
            "/healthz": {"GET": self._healthz},
            "/readyz": {"GET": self._readyz},
            "/api/chat": {"POST": chat.chat},
        }
        if settings.openai_enabled:
            openai = OpenAIApi(gateway, settings, idempotent)
            self._routes["/v1/chat/completions"] = {"POST": openai.chat_completions}
            self._routes["/v1/models"] = {"GET": openai.models}
            self._prefixes.append(("/v1/models/", {"GET": openai.model}))
        if control is not None:
            routes = ControlRoutes(control, settings)
            self._routes.update(routes.exact)
            self._prefixes.extend(routes.prefixed)
        self._websockets: dict[str, Handler] = {"/api/ws": WebSocketChat(gateway, settings, events)}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "websocket":
            await self._websocket(scope, receive, send)
        elif kind == "lifespan":
            await _lifespan(receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = True
            await send(message)

        try:
            handler = self._route(scope)
            if scope["path"] not in _UNCHECKED:
                # GETs too: a DNS-rebinding page must not read transcripts of a tokenless gateway.
                check_browser_origin(scope, self._settings.auth_token)
            await handler(scope, receive, tracking_send)
        except ClientGone:
            log.debug("client went away: %s %s", scope["method"], scope["path"])
        except HttpError as error:
            if not started:
                await send_error(send, error)
        except Exception:
            log.exception("unhandled error on %s %s", scope["method"], scope["path"])
            if not started:
                await send_error(send, internal_error())

    def _route(self, scope: Scope) -> Handler:
        methods = self._routes.get(scope["path"])
        if methods is None:
            path = scope["path"]
            methods = next((m for prefix, m in self._prefixes if path.startswith(prefix) and path != prefix), None)
        if methods is None:
            raise HttpError(404, f"no route for {scope['path']}", code="not_found")
        handler = methods.get(scope["method"])
        if handler is None:
            allowed = ", ".join(methods)
            raise HttpError(
                405,
                f"{scope['method']} is not allowed on {scope['path']} (use {allowed})",
                code="method_not_allowed",
                headers=[(b"allow", allowed.encode())],
            )
        return handler

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        handler = self._websockets.get(scope["path"])
        try:
            if handler is None:
                await receive()
                await send({"type": "websocket.close", "code": 4404})
                return
            await handler(scope, receive, send)
        except Exception:
            log.exception("unhandled error on WebSocket %s", scope["path"])

    async def _healthz(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send_json(send, 200, {"status": "ok"})

    async def _readyz(self, scope: Scope, receive: Receive, send: Send) -> None:
        # 200 whenever the gateway can serve; a channel or model in trouble shows in the body.
        ready = self._gateway.ready()
        body: dict[str, Any] = {"status": "ready" if ready else "starting"}
        if self._settings.health is not None:
            body.update(await self._settings.health())
        await send_json(send, 200 if ready else 503, body)


async def _lifespan(receive: Receive, send: Send) -> None:
    """Nothing to set up (the gateway owns the resources); answered so that any ASGI server runs us."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
