"""An aiogram session over httpx (aiogram's documented `BaseSession` extension point) instead of aiohttp.

httpx is the project's HTTP client already (the LLM adapter, web tools), so the Telegram channel
adds no second client library (aiohttp and its dependencies are about 10 MB of RSS). Requests go
out as aiogram's own session sends them: form fields made by `BaseSession.prepare_value`, a
multipart body when the method uploads a file, the answer checked by `BaseSession.check_response`
(which raises aiogram's own Telegram* errors). Transport failures become `TelegramNetworkError`
as with aiohttp, so callers see the same exceptions whichever session runs.

Importing this module imports aiogram through `aiogram_lean.import_aiogram()` first.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING, Any, cast

import httpx

from rustyclaw.adapters.channels.aiogram_lean import import_aiogram

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


class HttpxSession(BaseSession):
    """aiogram's BaseSession on one `httpx.AsyncClient` (keep-alive, created on first use)."""

    def __init__(self, *, limit: int = 100, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._limit = limit
        self._client: httpx.AsyncClient | None = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None or self._client.is_closed:
            self._client = httpx.AsyncClient(
                headers={"user-agent": f"aiogram/{AIOGRAM_VERSION} httpx/{httpx.__version__}"},
                limits=httpx.Limits(max_connections=self._limit),
                # Plain-http Bot API servers (local ones, emulators) need no CA bundle loaded.
                verify=not self.api.base.startswith("http://"),
            )
        return self._client

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
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
        seconds = self.timeout if timeout is None else timeout
        try:
            response = await self._http().post(url, data=fields, files=files or None, timeout=seconds)
        except httpx.TimeoutException as exc:
            raise TelegramNetworkError(method=method, message="Request timeout error") from exc
        except httpx.HTTPError as exc:
            raise TelegramNetworkError(method=method, message=f"{type(exc).__name__}: {exc}") from exc
        checked = self.check_response(bot=bot, method=method, status_code=response.status_code, content=response.text)
        return cast(TelegramType, checked.result)

    async def stream_content(
        self, url: str, headers: dict[str, Any] | None = None, timeout: int = 30,  # noqa: ASYNC109
        chunk_size: int = 65536, raise_for_status: bool = True,
    ) -> AsyncGenerator[bytes, None]:
        async with self._http().stream("GET", url, headers=headers or {}, timeout=timeout) as response:
            if raise_for_status:
                response.raise_for_status()
            async for chunk in response.aiter_bytes(chunk_size):
                yield chunk
