"""An aiogram session (aiogram's `BaseSession` extension point) over the lean HTTP/1.1 client.

The Telegram channel's Bot API calls go out on `adapters/llm/http11.py`'s `LeanHTTPClient` (h11 on
asyncio streams, keep-alive; HTTPS verified with `default_tls_context()`), so the Telegram-enabled
process imports neither aiohttp nor httpx (about 4 MB of RSS more with httpx). Requests are the
ones aiogram's own sessions send: form fields made by `BaseSession.prepare_value`, url-encoded, or
a multipart body when the method uploads a file (`sendVoice`, `sendPhoto`); the answer is checked
by `BaseSession.check_response` (which raises aiogram's own Telegram* errors). Transport failures
and timeouts become `TelegramNetworkError` as with aiohttp, so callers see the same exceptions
whichever session runs. A request's timeout (aiogram's `timeout`, or the session's: 60 s, above a
getUpdates long poll's) bounds the whole exchange, connecting and reading the body included.

Proxies are not handled here: with a proxy for the Bot API's URL the channel uses
`aiogram_httpx.HttpxSession` instead (`session_for`).

Importing this module imports aiogram through `aiogram_lean.import_aiogram()` first.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlencode, urlsplit

import anyio

from rustyclaw.adapters.channels.aiogram_lean import import_aiogram
from rustyclaw.adapters.llm.http11 import (
    HTTPBroken,
    HTTPConnectError,
    HTTPTimeout,
    LeanHTTPClient,
    default_tls_context,
    lean_origin,
)

import_aiogram()  # before any aiogram module below, so that they load lean

from aiogram.__meta__ import __version__ as AIOGRAM_VERSION  # noqa: E402
from aiogram.client.session.base import BaseSession  # noqa: E402
from aiogram.exceptions import TelegramNetworkError  # noqa: E402
from aiogram.methods.base import TelegramType  # noqa: E402

if TYPE_CHECKING:
    from aiogram.client.bot import Bot
    from aiogram.methods import TelegramMethod
    from aiogram.types import InputFile

_Files = dict[str, tuple[str, bytes]]
CONNECT_TIMEOUT = 30.0  # (the request's own timeout still bounds it)
USER_AGENT = f"aiogram/{AIOGRAM_VERSION} rustyclaw-http11"


class HTTPStatusError(Exception):
    """A file download answered with an error status (``stream_content(raise_for_status=True)``)."""

    def __init__(self, status_code: int, url: str) -> None:
        super().__init__(f"HTTP {status_code} for {url}")
        self.status_code = status_code


# Form parameter values in multipart headers, escaped as browsers and httpx do (HTML5 form encoding).
_FORM_ESCAPES = {'"': "%22", "\\": "\\\\", **{chr(c): f"%{c:02X}" for c in range(0x20) if c != 0x1B}}
_FORM_ESCAPE = re.compile("|".join(re.escape(c) for c in _FORM_ESCAPES))


def _quoted(value: str) -> str:
    return '"' + _FORM_ESCAPE.sub(lambda m: _FORM_ESCAPES[m.group(0)], value) + '"'


def multipart_body(fields: dict[str, str], files: _Files, boundary: str | None = None) -> tuple[bytes, str]:
    """A ``multipart/form-data`` body of text fields and files, and its Content-Type."""
    mark = (boundary or os.urandom(16).hex()).encode()
    parts: list[bytes] = []
    for name, value in fields.items():
        parts += [b"--", mark, b"\r\nContent-Disposition: form-data; name=", _quoted(name).encode(),
                  b"\r\n\r\n", value.encode(), b"\r\n"]
    for name, (filename, data) in files.items():
        parts += [b"--", mark, b"\r\nContent-Disposition: form-data; name=", _quoted(name).encode(),
                  b"; filename=", _quoted(filename).encode(),
                  b"\r\nContent-Type: application/octet-stream\r\n\r\n", data, b"\r\n"]
    parts += [b"--", mark, b"--\r\n"]
    return b"".join(parts), f"multipart/form-data; boundary={mark.decode()}"


def encode_form(fields: dict[str, str], files: _Files) -> tuple[bytes, str]:
    """The request body aiogram's sessions send: url-encoded fields, multipart when a file goes up."""
    if files:
        return multipart_body(fields, files)
    return urlencode(fields).encode(), "application/x-www-form-urlencoded"


class LeanSession(BaseSession):
    """aiogram's BaseSession on `LeanHTTPClient`s, one per origin (keep-alive, created on first use)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._clients: dict[tuple[str, str, int], LeanHTTPClient] = {}

    def _client(self, url: str) -> tuple[LeanHTTPClient, str]:
        parts = urlsplit(url)
        origin = lean_origin(url, ("http", "https"))
        if origin is None:
            raise HTTPConnectError(f"the lean session serves http and https URLs without a proxy, not {url!r}")
        key = (parts.scheme, *origin)
        client = self._clients.get(key)
        if client is None:
            client = LeanHTTPClient(
                origin[0], origin[1], {"user-agent": USER_AGENT}, connect_timeout=CONNECT_TIMEOUT,
                head_timeout=self.timeout,
                # Plain-http Bot API servers (local ones, emulators) need no CA bundle loaded.
                ssl_context=default_tls_context() if parts.scheme == "https" else None,
            )
            self._clients[key] = client
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return client, target

    async def close(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()

    async def _form(self, bot: Bot, method: TelegramMethod[TelegramType]) -> tuple[dict[str, str], _Files]:
        fields: dict[str, str] = {}
        uploads: dict[str, InputFile] = {}
        for key, value in method.model_dump(warnings=False).items():
            prepared = self.prepare_value(value, bot=bot, files=uploads)
            if prepared:
                fields[key] = prepared
        files: _Files = {}
        for key, upload in uploads.items():
            data = bytearray()
            async for chunk in upload.read(bot):
                data += chunk
            files[key] = (upload.filename or key, bytes(data))
        return fields, files

    async def make_request(
        self, bot: Bot, method: TelegramMethod[TelegramType], timeout: int | None = None  # noqa: ASYNC109
    ) -> TelegramType:
        url = self.api.api_url(token=bot.token, method=method.__api_method__)
        fields, files = await self._form(bot, method)
        body, content_type = encode_form(fields, files)
        seconds = self.timeout if timeout is None else timeout
        try:
            client, target = self._client(url)
            with anyio.fail_after(seconds):
                response = await client.request("POST", target, body, {"content-type": content_type},
                                                head_timeout=seconds)
                try:
                    raw = await response.aread()
                finally:
                    await response.aclose()
        except (TimeoutError, HTTPTimeout) as exc:
            raise TelegramNetworkError(method=method, message="Request timeout error") from exc
        except (HTTPConnectError, HTTPBroken, OSError) as exc:
            raise TelegramNetworkError(method=method, message=f"{type(exc).__name__}: {exc}") from exc
        checked = self.check_response(bot=bot, method=method, status_code=response.status_code,
                                      content=raw.decode("utf-8", errors="replace"))
        return cast(TelegramType, checked.result)

    async def stream_content(
        self, url: str, headers: dict[str, Any] | None = None, timeout: int = 30,  # noqa: ASYNC109
        chunk_size: int = 65536, raise_for_status: bool = True,
    ) -> AsyncGenerator[bytes, None]:
        """GETs ``url`` and yields its body in pieces of at most ``chunk_size`` bytes; ``timeout``
        bounds the whole download (as aiohttp's total timeout does)."""
        client, target = self._client(url)
        deadline = anyio.current_time() + timeout
        with anyio.fail_after(timeout):
            response = await client.request("GET", target, headers={k: str(v) for k, v in (headers or {}).items()},
                                            head_timeout=timeout)
        try:
            if raise_for_status and response.status_code >= 400:
                raise HTTPStatusError(response.status_code, url.split("/bot", 1)[0])  # (no token in errors)
            chunks = response.aiter_bytes()
            while True:
                # A cancel scope must not span a yield: each read gets what is left of the deadline.
                with anyio.fail_after(max(deadline - anyio.current_time(), 0)):
                    chunk = await anext(chunks, None)
                if chunk is None:
                    break
                for start in range(0, len(chunk), chunk_size):
                    yield chunk[start:start + chunk_size]
        finally:
            await response.aclose()


def session_for(api_base_url: str | None) -> BaseSession:
    """The session for a Bot API server: `LeanSession`, or `HttpxSession` when a proxy applies to it."""
    from aiogram.client.telegram import PRODUCTION, TelegramAPIServer

    api = TelegramAPIServer.from_base(api_base_url) if api_base_url else PRODUCTION
    base = api_base_url or "https://api.telegram.org"
    if lean_origin(base, ("http", "https")) is None:
        from rustyclaw.adapters.channels.aiogram_httpx import HttpxSession

        return HttpxSession(api=api)
    return LeanSession(api=api)
