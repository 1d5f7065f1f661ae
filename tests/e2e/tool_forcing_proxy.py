"""A pass-through proxy in front of the real llama.cpp server that can force one tool call.

The tiny test model rarely decides to call a tool by itself; llama.cpp constrains its output to a
call when `tool_choice` names a function. The proxy adds that to the next request that ends with
the user's message, so the gateway's whole tool round trip runs against the real server.
Everything else passes through untouched; every request body is recorded as it was sent on
(`requests`), and every answer's body as it came back (`responses`, same order).

Why the forced tool's schema is tightened too (issue #18): llama-cpp-python (0.3.36) turns the
forced tool's JSON schema into a grammar whose string rule is ``char ::= [^"\\] | "\\" ...``: it
admits raw control characters (JSON does not) and has no length bound. The grammar held on a
fresh CI machine, and SmolLM2 135M still wrote ``{ "command" : "exec -o ...`` followed by
newlines and prose inside the never-closed string until `max_tokens` cut it: arguments that are
not JSON (`invalid character` at the first raw newline, or truncated). Which way the model goes
depends on the build's floating-point path (a fresh compile on another CPU, sampling above
temperature 0), not on anything the test controls. So for the forced request only, every plain
string in the tool's parameters gets `pattern` ``^[ !#-\\[\\]-~]{1,48}$`` (printable ASCII without
`"` and `\\`, at most 48 characters; `strict_arguments` in tests/fixtures/llm_servers.py), which
the converter turns into a bounded character class: the output is then valid JSON that closes well
within the test's `max_tokens`, whatever the model writes inside it. Checked against the real
server: 24 forced `exec` calls at temperatures 0, 1.0 and 1.5 all parsed, against 1 in 6 malformed
at 0.8 with the schema as the gateway sends it.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from rustyclaw.adapters.http.asgi import Receive, Scope, Send, send_json
from tests.fixtures.llm_servers import strict_arguments


class ToolForcingProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.force_next: str | None = None
        self.requests: list[dict[str, Any]] = []
        self.responses: list[bytes] = []
        self._client = httpx.AsyncClient(timeout=300)

    async def aclose(self) -> None:
        await self._client.aclose()

    def _force(self, payload: dict[str, Any], name: str) -> str | None:
        """Adds the forcing `tool_choice`; returns why it cannot (the tool is not offered)."""
        tools = payload.get("tools") or []
        offered = [t for t in tools if t.get("function", {}).get("name") == name]
        if not offered:
            return (f"the test asked to force a call to {name!r}, but the gateway did not offer it "
                    f"(offered: {[t.get('function', {}).get('name') for t in tools]})")
        function = offered[0]["function"]
        function["parameters"] = strict_arguments(function.get("parameters") or {"type": "object", "properties": {}})
        payload["tool_choice"] = {"type": "function", "function": {"name": name}}
        return None

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
                name, self.force_next = self.force_next, None
                refused = self._force(payload, name)
                if refused is not None:
                    # Said plainly here, instead of llama.cpp's cut stream ("Tool choice not found").
                    await send_json(send, 400, {"error": {"message": refused, "type": "invalid_request_error"}})
                    return
            self.requests.append(payload)
            body = json.dumps(payload).encode()
        request = self._client.build_request(
            scope["method"], f"{self.upstream}{path}", content=body or None,
            headers={"content-type": "application/json"},
        )
        response = await self._client.send(request, stream=True)
        received = bytearray()
        try:
            headers = [(k.encode(), v.encode()) for k, v in response.headers.items()
                       if k.lower() in ("content-type",)]
            await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
            async for chunk in response.aiter_raw():
                received += chunk
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        finally:
            await response.aclose()
            if body:
                self.responses.append(bytes(received))


def streamed_text_deltas(body: bytes) -> list[str]:
    """The non-empty `delta.content` pieces of an OpenAI SSE body, in order."""
    pieces: list[str] = []
    for line in body.decode().splitlines():
        if line.startswith("data: ") and line != "data: [DONE]":
            for choice in json.loads(line[6:]).get("choices") or []:
                if (choice.get("delta") or {}).get("content"):
                    pieces.append(choice["delta"]["content"])
    return pieces
