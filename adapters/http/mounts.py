"""Routes path prefixes to other ASGI apps (platform webhooks) in front of the main app."""

from __future__ import annotations

from collections.abc import Mapping

from rustyclaw.adapters.http.asgi import ASGIApp, Receive, Scope, Send


def with_mounts(app: ASGIApp, mounts: Mapping[str, ASGIApp]) -> ASGIApp:
    """`mounts` maps an exact path (e.g. `/channels/telegram/webhook`) to the app that serves it."""
    if not mounts:
        return app
    table = dict(mounts)

    async def routed(scope: Scope, receive: Receive, send: Send) -> None:
        target = table.get(scope.get("path", "")) if scope["type"] == "http" else None
        await (target or app)(scope, receive, send)

    return routed
