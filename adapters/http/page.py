"""The web chat page: one static HTML file with its script and style inline, served with a strict CSP.

The Content-Security-Policy allows exactly the page's own inline script and style (by hash) and
connections to its own origin, so even a bug in the page's escaping could not run injected script.
"""

from __future__ import annotations

import os
import re

from rustyclaw.adapters.http.asgi import Headers, Receive, Scope, Send, send_bytes

_INLINE = {
    "script": re.compile(rb"<script>(.*?)</script>", re.S),
    "style": re.compile(rb"<style>(.*?)</style>", re.S),
}


def _hashes(html: bytes, kind: str) -> str:
    import base64
    import hashlib

    found = _INLINE[kind].findall(html)
    return " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(body).digest()).decode() + "'" for body in found
    )


def page_headers(html: bytes) -> Headers:
    policy = (
        "default-src 'none'; "
        f"script-src {_hashes(html, 'script')}; "
        f"style-src {_hashes(html, 'style')}; "
        "connect-src 'self'; img-src 'self' data:; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
    return [
        (b"content-security-policy", policy.encode()),
        (b"cache-control", b"no-cache"),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
    ]


class ChatPage:
    """Serves `static/index.html`, read once on first request (nothing is read at import)."""

    def __init__(self) -> None:
        self._html: bytes | None = None
        self._headers: Headers = []

    def _load(self) -> bytes:
        if self._html is None:
            # A plain file next to this module (package data): importlib.resources would cost ~1 MB of RSS.
            with open(os.path.join(os.path.dirname(__file__), "static", "index.html"), "rb") as file:
                html = file.read()
            self._headers = page_headers(html)
            self._html = html
        return self._html

    async def index(self, scope: Scope, receive: Receive, send: Send) -> None:
        html = self._load()
        await send_bytes(send, 200, html, b"text/html; charset=utf-8", self._headers)
