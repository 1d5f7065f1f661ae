"""A minimal ASGI app around `async handle(headers, body) -> (status, body)`, for platform webhooks.

Channel adapters stay free of any web framework: the gateway's HTTP app mounts this app at
`/channels/<name>/webhook` (or calls the handler itself). POST only; bodies over `max_body`
bytes get 413 before they are read in full.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
WebhookHandler = Callable[[Mapping[str, str], bytes], Awaitable[tuple[int, bytes]]]


async def _respond(send: Send, status: int, body: bytes) -> None:
    await send({
        "type": "http.response.start", "status": status,
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
    })
    await send({"type": "http.response.body", "body": body})


def webhook_app(handle: WebhookHandler, *, max_body: int = 1 << 20) -> ASGIApp:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                event = await receive()
                if event["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif event["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        if scope["method"] != "POST":
            await _respond(send, 405, b'{"ok":false,"error":"POST only"}')
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > max_body:
            await _respond(send, 413, b'{"ok":false,"error":"body too large"}')
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            event = await receive()
            if event["type"] == "http.disconnect":
                return
            chunk = event.get("body", b"")
            size += len(chunk)
            if size > max_body:
                await _respond(send, 413, b'{"ok":false,"error":"body too large"}')
                return
            chunks.append(chunk)
            more = bool(event.get("more_body", False))
        try:
            status, body = await handle(headers, b"".join(chunks))
        except RecursionError:
            # json/msgspec give up on a deeply nested body with RecursionError: a bad request, not a 500.
            status, body = 400, b'{"ok":false,"error":"JSON nested too deeply"}'
        await _respond(send, status, body)

    return app
