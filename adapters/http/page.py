"""The browser pages and their files: the chat (`/`), the control page (`/control`), the PWA's
manifest and service worker, and `/static/...` (the pages' script and style, the vendored
marked/DOMPurify/highlight.js, icons). A fixed list of files from the package, read on first use.

Every HTML page has a strict Content-Security-Policy: scripts and styles only from this origin
(no inline code at all), connections only to this origin, so even a bug in the Markdown
sanitising could not run injected script or send data elsewhere.
"""

from __future__ import annotations

import os

from rustyclaw.adapters.http.asgi import Headers, HttpError, Receive, Scope, Send, send_bytes

STATIC_DIR = os.path.join(os.path.dirname(__file__), "static")

POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data: blob:; media-src 'self' data: blob:; manifest-src 'self'; worker-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

_TYPES = {
    ".html": b"text/html; charset=utf-8",
    ".js": b"text/javascript; charset=utf-8",
    ".css": b"text/css; charset=utf-8",
    ".png": b"image/png",
    ".svg": b"image/svg+xml",
    ".webmanifest": b"application/manifest+json",
    ".txt": b"text/plain; charset=utf-8",
}

# URL path -> file under static/. Only these are served: nothing else in the package is reachable.
PAGES = {"/": "index.html", "/control": "control.html"}
ROOT_FILES = {"/manifest.webmanifest": "manifest.webmanifest", "/sw.js": "sw.js"}
STATIC_PREFIX = "/static/"


def _static_files() -> dict[str, str]:
    files = {}
    for folder in ("", "vendor", "icons"):
        base = os.path.join(STATIC_DIR, folder)
        for name in sorted(os.listdir(base)) if os.path.isdir(base) else []:
            relative = f"{folder}/{name}" if folder else name
            if os.path.splitext(name)[1] in _TYPES and relative not in PAGES.values():
                files[STATIC_PREFIX + relative] = relative
    return files


def security_headers(content_type: bytes) -> Headers:
    headers: Headers = [
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
        # Revalidated each time (a new release must not show an old page); the service worker
        # keeps its own copy for offline use.
        (b"cache-control", b"no-cache"),
    ]
    if content_type.startswith(b"text/html"):
        headers += [(b"content-security-policy", POLICY.encode()), (b"x-frame-options", b"DENY")]
    return headers


class StaticSite:
    """Serves the files above; `paths()` lists the exact routes for HttpApp."""

    def __init__(self) -> None:
        self._files = {**PAGES, **ROOT_FILES, **_static_files()}
        self._cache: dict[str, tuple[bytes, bytes]] = {}

    def paths(self) -> list[str]:
        return list(self._files)

    def _load(self, path: str) -> tuple[bytes, bytes]:
        cached = self._cache.get(path)
        if cached is None:
            name = self._files.get(path)
            if name is None:
                raise HttpError(404, f"no route for {path}", code="not_found")
            with open(os.path.join(STATIC_DIR, name), "rb") as file:
                cached = (file.read(), _TYPES[os.path.splitext(name)[1]])
            self._cache[path] = cached
        return cached

    async def serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        body, content_type = self._load(scope["path"])
        headers = security_headers(content_type)
        if scope["path"] == "/sw.js":
            headers.append((b"service-worker-allowed", b"/"))
        await send_bytes(send, 200, body, content_type, headers)
