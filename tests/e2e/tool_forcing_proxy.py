"""A pass-through proxy in front of the real llama.cpp server that can force one tool call.

The tiny test model rarely decides to call a tool by itself; llama.cpp constrains its output to a
valid call when `tool_choice` names a function. The proxy adds that to the next request that ends
with the user's message, so the gateway's whole tool round trip runs against the real server.
Everything else passes through untouched, and every request body is recorded.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from rustyclaw.adapters.http.asgi import Receive, Scope, Send


class ToolForcingProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.force_next: str | None = None
        self.requests: list[dict[str, Any]] = []
        self._client = httpx.AsyncClient(timeout=300)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        path = scope["path"].removeprefix("/v1")
        if body:
            payload = json.loads(body)
            messages = payload.get("messages", [])
            if self.force_next and messages and messages[-1]["role"] == "user":
                payload["tool_choice"] = {"type": "function", "function": {"name": self.force_next}}
                self.force_next = None
            self.requests.append(payload)
            body = json.dumps(payload).encode()
        request = self._client.build_request(
            scope["method"], f"{self.upstream}{path}", content=body or None,
            headers={"content-type": "application/json"},
        )
        response = await self._client.send(request, stream=True)
        try:
            headers = [(k.encode(), v.encode()) for k, v in response.headers.items()
                       if k.lower() in ("content-type",)]
            await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
            async for chunk in response.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        finally:
            await response.aclose()
