"""The four Discord REST calls the channel makes, on aiohttp (which hikari's gateway shard loads anyway).

hikari's REST client (`hikari.impl.rest`) imports its entity factory and every model module of
hikari (guilds, channels, audit logs, interactions, commands, ...): about 8 MB of attrs classes
for a channel that asks for the gateway's URL and its own user, posts messages and triggers
typing. This client speaks those calls in JSON and leaves messages as the gateway's payloads.

What it keeps of hikari's REST behaviour:
- connection errors and 500/502/503/504 are retried `retries` times with exponential backoff
  (1, 2, 4 ... s, at most 16, plus jitter), as hikari's `max_retries` does;
- a 429 waits the `retry_after` Discord asks for (not counted as a retry) when that is at most
  `max_rate_limit` seconds, else raises `RateLimitTooLongError`;
- other 4xx/5xx answers raise `HTTPResponseError` with Discord's message and code.
It does not keep hikari's per-route buckets that wait before a 429 happens: Discord's 429 answer
is waited out instead, which a single bot's replies rarely reach.
"""

from __future__ import annotations

import asyncio
import json
import random
import ssl
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import aiohttp

_RETRIED_STATUSES = frozenset((500, 502, 503, 504))
USER_AGENT = "DiscordBot (https://github.com/rustyclaw/rustyclaw, 0.1) rustyclaw"


class HTTPResponseError(Exception):
    """Discord answered with an error status."""

    def __init__(self, status: int, message: str, code: int = 0) -> None:
        super().__init__(f"{status}: {message}" if message else str(status))
        self.status = status
        self.message = message
        self.code = code


class RateLimitTooLongError(HTTPResponseError):
    """A 429 whose wait is longer than the client waits by itself."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(429, message)
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class GatewayBotInfo:
    url: str
    remaining: int
    reset_after_s: float


@dataclass(frozen=True, slots=True)
class FileUpload:
    data: bytes
    filename: str
    mime: str | None = None


class DiscordRest:
    """An aiohttp session for one bot token against Discord's REST API root (`.../api/v10`)."""

    def __init__(self, token: str, base_url: str | None, *, retries: int = 3, tls: ssl.SSLContext | None = None,
                 timeout_s: float = 30.0, max_rate_limit_s: float = 300.0) -> None:
        self._headers = {"Authorization": f"Bot {token}", "User-Agent": USER_AGENT}
        self._base = (base_url or "https://discord.com/api/v10").rstrip("/")
        self._retries = retries
        self._tls = tls
        self._timeout_s = timeout_s
        self._max_rate_limit = max_rate_limit_s
        self._session: aiohttp.ClientSession | None = None

    def start(self) -> None:
        # aiohttp is imported here, not at the top: the module loads with the channel at the
        # gateway's start, aiohttp with hikari's shard in the channel's import thread.
        import aiohttp

        if self._session is None:
            connector = aiohttp.TCPConnector(ssl=self._tls if self._tls is not None else True)
            self._session = aiohttp.ClientSession(connector=connector, headers=self._headers,
                                                  timeout=aiohttp.ClientTimeout(total=self._timeout_s))

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def request(self, method: str, route: str, *, body: dict[str, Any] | None = None,
                      files: list[FileUpload] | None = None) -> Any:
        """The decoded JSON answer (None for 204), after the retries described above."""
        import aiohttp

        if self._session is None:
            raise RuntimeError("the REST client is not started")
        attempt = 0
        while True:
            data: Any = None
            if files:
                data = aiohttp.FormData()
                data.add_field("payload_json", json.dumps(body or {}), content_type="application/json")
                for index, upload in enumerate(files):
                    data.add_field(f"files[{index}]", upload.data, filename=upload.filename,
                                   content_type=upload.mime or "application/octet-stream")
            elif body is not None:
                data = aiohttp.JsonPayload(body)
            try:
                async with self._session.request(method, self._base + route, data=data) as response:
                    status = response.status
                    text = await response.text()
            except (TimeoutError, aiohttp.ClientConnectionError, OSError):
                if attempt >= self._retries:
                    raise
                attempt += 1
                await asyncio.sleep(_backoff(attempt))
                continue
            if status < 300:
                return json.loads(text) if text else None
            error = _error_body(text)
            message = str(error.get("message") or "")
            if status == 429:
                retry_after = float(error.get("retry_after") or 1.0)
                if retry_after > self._max_rate_limit:
                    raise RateLimitTooLongError(message, retry_after)
                await asyncio.sleep(retry_after)
                continue
            if status in _RETRIED_STATUSES and attempt < self._retries:
                attempt += 1
                await asyncio.sleep(_backoff(attempt))
                continue
            raise HTTPResponseError(status, message, int(error.get("code") or 0))

    async def fetch_gateway_bot_info(self) -> GatewayBotInfo:
        info = await self.request("GET", "/gateway/bot")
        limit = info.get("session_start_limit") or {}
        return GatewayBotInfo(str(info["url"]), int(limit.get("remaining", 1)),
                              float(limit.get("reset_after", 0)) / 1000)

    async def fetch_my_user(self) -> dict[str, Any]:
        user: dict[str, Any] = await self.request("GET", "/users/@me")
        return user

    async def create_message(self, channel_id: int, *, content: str | None = None, reply: int | None = None,
                             attachment: FileUpload | None = None) -> dict[str, Any]:
        """A message that pings nobody (allowed mentions empty); `reply` quotes a message that may be gone."""
        body: dict[str, Any] = {"allowed_mentions": {"parse": []}}
        if content is not None:
            body["content"] = content
        if reply is not None:
            body["message_reference"] = {"message_id": str(reply), "fail_if_not_exists": False}
        files = None
        if attachment is not None:
            body["attachments"] = [{"id": 0, "filename": attachment.filename}]
            files = [attachment]
        sent: dict[str, Any] = await self.request("POST", f"/channels/{channel_id}/messages", body=body, files=files)
        return sent

    async def trigger_typing(self, channel_id: int) -> None:
        await self.request("POST", f"/channels/{channel_id}/typing")


def token_id(token: str) -> int:
    """The bot's user id, the token's first part in base64 (raises ValueError for anything else)."""
    import base64
    import binascii

    first = token.split(".", 1)[0]
    try:
        return int(base64.b64decode(first + "=" * (-len(first) % 4), validate=True))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("unexpected token format") from exc


def _backoff(attempt: int) -> float:
    return float(min(2 ** (attempt - 1), 16)) + random.random()


def _error_body(text: str) -> dict[str, Any]:
    try:
        decoded = json.loads(text)
    except ValueError:
        return {"message": text[:200]}
    return decoded if isinstance(decoded, dict) else {"message": str(decoded)[:200]}
