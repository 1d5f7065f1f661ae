"""A scripted OpenAI-compatible model for driving the real OpenClaw (fixture generation only).

It answers `/v1/chat/completions` (plain and SSE streaming) and `/v1/models`. The reply depends
only on the conversation, so two runs give the same transcripts:

- The user text is the newest user message that is not OpenClaw's internal-context message
  (2026.9.x sends one, fenced by <<<BEGIN/END_OPENCLAW_INTERNAL_CONTEXT>>>, before the user's
  text) and not a bare timestamp/runtime wrapper.
- A user text containing `[[tool:NAME {json args}]]` gets a tool call of NAME (when the request
  offers that tool), so the transcript holds a tool call and its result.
- After a tool result the model answers with a short summary of the result.
- Anything else is echoed back, trimmed, with a fixed prefix.

Every request is appended to the log file given with --log (one JSON object a line), which is
how the driver checks what the model saw (after a reset, for instance).

Usage: python mock_model.py --port 18555 --log requests.jsonl
"""

from __future__ import annotations

import argparse
import json
import re
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_TOOL = re.compile(r"\[\[tool:(?P<name>[A-Za-z0-9_\-]+)\s+(?P<args>\{.*?\})\]\]", re.S)
_INTERNAL = "OPENCLAW_INTERNAL_CONTEXT"
_lock = threading.Lock()


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


def _user_text(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") != "user":
            continue
        text = _text(message.get("content"))
        if _INTERNAL in text:
            # The internal context may be glued to the user's text in one message: keep what follows it.
            tail = text.rsplit(f"<<<END_{_INTERNAL}>>>", 1)[-1].strip()
            if tail:
                return tail
            continue
        return text
    return ""


def reply_for(body: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """(text, tool calls) for one request."""
    messages = body.get("messages") or []
    offered = {t.get("function", {}).get("name") for t in body.get("tools") or [] if isinstance(t, dict)}
    # A tool result after the user's text (OpenClaw may put its internal-context message after
    # it) means the call was made: answer it instead of calling again.
    for message in reversed(messages):
        role = message.get("role")
        if role == "tool":
            result = _text(message.get("content")).replace("\n", " ")
            return f"The tool returned {len(result)} characters, starting: {result[:80]}", []
        if role == "user" and _INTERNAL not in _text(message.get("content")):
            break
    text = _user_text(messages)
    match = _TOOL.search(text.split("\n\nRuntime: agent=", 1)[0])
    if match and match["name"] in offered:
        call = {
            "id": "call_" + uuid.uuid5(uuid.NAMESPACE_URL, text).hex[:12],
            "type": "function",
            "function": {"name": match["name"], "arguments": json.dumps(json.loads(match["args"]))},
        }
        return "", [call]
    # Strip OpenClaw's "[Wed 2026-... UTC] " prefix so replies do not depend on the clock.
    clean = re.sub(r"^\[[^\]]{10,60}\]\s*", "", text)
    # ... and the "Runtime: agent=... | session=..." paragraph 2026.9.x appends.
    clean = re.split(r"\n\nRuntime: agent=", clean, maxsplit=1)[0].strip()
    if len(clean) > 300:
        return f"Received a long message of {len(clean)} characters; it ends with: {clean[-60:]}", []
    return f"Echo: {clean}", []


class Handler(BaseHTTPRequestHandler):
    log_path: str = ""

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _json(self, status: int, value: Any) -> None:
        data = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path.rstrip("/").endswith("/models"):
            self._json(200, {"object": "list", "data": [{"id": "mock-1", "object": "model", "owned_by": "mock"}]})
        else:
            self._json(404, {"error": {"message": "not found"}})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        if self.log_path:
            with _lock, open(self.log_path, "a", encoding="utf-8") as log:
                log.write(json.dumps({"path": self.path, "body": body}, ensure_ascii=False) + "\n")
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._json(404, {"error": {"message": "not found"}})
            return
        text, calls = reply_for(body)
        model = body.get("model") or "mock-1"
        rid = "chatcmpl-" + uuid.uuid4().hex[:16]
        finish = "tool_calls" if calls else "stop"
        usage = {"prompt_tokens": 100, "completion_tokens": max(1, len(text) // 4), "total_tokens": 0}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        created = int(time.time())
        if not body.get("stream"):
            message: dict[str, Any] = {"role": "assistant", "content": text or None}
            if calls:
                message["tool_calls"] = calls
            self._json(200, {
                "id": rid, "object": "chat.completion", "created": created, "model": model,
                "choices": [{"index": 0, "message": message, "finish_reason": finish}], "usage": usage,
            })  # fmt: skip
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()

        def chunk(delta: dict[str, Any], finish_reason: str | None = None, with_usage: bool = False) -> None:
            value: dict[str, Any] = {
                "id": rid, "object": "chat.completion.chunk", "created": created, "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
            }  # fmt: skip
            if with_usage:
                value["usage"] = usage
            self.wfile.write(f"data: {json.dumps(value)}\n\n".encode())
            self.wfile.flush()

        chunk({"role": "assistant", "content": ""})
        if text:
            for start in range(0, len(text), 40):
                chunk({"content": text[start : start + 40]})
        for index, call in enumerate(calls):
            chunk({"tool_calls": [{"index": index, **call}]})
        chunk({}, finish, with_usage=True)
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log", default="")
    args = parser.parse_args()
    Handler.log_path = args.log
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.serve_forever()


if __name__ == "__main__":
    main()
