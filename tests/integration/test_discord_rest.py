"""The Discord channel's REST client (adapters/channels/discord_rest.py) against a local aiohttp app:
429s waited out or refused, 5xx and connection errors retried, the multipart upload, the token's id.

The flows (test_discord_flows.py, test_discord_at_least_once.py) cover the calls against the stand-in.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from rustyclaw.adapters.channels import discord_rest
from rustyclaw.adapters.channels.discord_rest import (
    DiscordRest,
    FileUpload,
    HTTPResponseError,
    RateLimitTooLongError,
    token_id,
)

pytestmark = pytest.mark.anyio


class Server:
    def __init__(self) -> None:
        self.answers: list[tuple[int, dict[str, Any]]] = []  # served first, then 200
        self.bodies: list[dict[str, Any]] = []
        self.calls = 0
        self.url = ""


@pytest.fixture
async def server(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Server]:
    state = Server()
    monkeypatch.setattr(discord_rest, "_backoff", lambda attempt: 0.0)  # no waiting between retries here

    async def messages(request: web.Request) -> web.Response:
        state.calls += 1
        assert request.headers["Authorization"] == "Bot tok"
        if request.content_type.startswith("multipart/"):
            form = await request.post()
            upload = form["files[0]"]
            assert isinstance(upload, web.FileField)
            raw = form["payload_json"]  # a part with a content type: aiohttp hands it over as a file
            body = json.loads(raw.file.read() if isinstance(raw, web.FileField) else raw)
            body["_file"] = [upload.filename, upload.content_type, upload.file.read().decode()]
        else:
            body = await request.json()
        state.bodies.append(body)
        if state.answers:
            status, answer = state.answers.pop(0)
            return web.json_response(answer, status=status)
        return web.json_response({"id": "1"})

    app = web.Application()
    app.router.add_post("/api/v10/channels/{channel}/messages", messages)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    state.url = f"http://127.0.0.1:{port}/api/v10"
    try:
        yield state
    finally:
        await runner.cleanup()


async def _client(url: str, retries: int = 3, max_rate_limit_s: float = 300.0) -> DiscordRest:
    rest = DiscordRest("tok", url, retries=retries, max_rate_limit_s=max_rate_limit_s)
    rest.start()
    return rest


async def test_a_message_pings_nobody_and_quotes_without_requiring_the_quoted(server: Server) -> None:
    rest = await _client(server.url)
    try:
        await rest.create_message(5, content="hi", reply=7)
        await rest.create_message(5, content=None, attachment=FileUpload(b"OggS", "voice.ogg", "audio/ogg"))
    finally:
        await rest.close()
    assert server.bodies == [
        {"allowed_mentions": {"parse": []}, "content": "hi",
         "message_reference": {"message_id": "7", "fail_if_not_exists": False}},
        {"allowed_mentions": {"parse": []}, "attachments": [{"id": 0, "filename": "voice.ogg"}],
         "_file": ["voice.ogg", "audio/ogg", "OggS"]},
    ]


async def test_a_short_429_is_waited_out_and_a_long_one_refused(server: Server) -> None:
    rest = await _client(server.url, max_rate_limit_s=5)
    try:
        server.answers = [(429, {"message": "slow down", "retry_after": 0.05})]
        await rest.create_message(5, content="a")
        assert server.calls == 2
        server.answers = [(429, {"message": "slow down", "retry_after": 60})]
        with pytest.raises(RateLimitTooLongError) as raised:
            await rest.create_message(5, content="b")
        assert raised.value.retry_after == 60 and raised.value.status == 429
    finally:
        await rest.close()


async def test_5xx_are_retried_up_to_the_limit_and_4xx_never(server: Server) -> None:
    rest = await _client(server.url, retries=2)
    try:
        server.answers = [(502, {"message": "bad gateway"}), (500, {"message": "oops"})]
        await rest.create_message(5, content="a")
        assert server.calls == 3
        server.answers = [(500, {"message": "oops"})] * 3
        with pytest.raises(HTTPResponseError) as raised:
            await rest.create_message(5, content="b")
        assert raised.value.status == 500 and server.calls == 6
        server.answers = [(403, {"message": "Missing Access", "code": 50001})]
        with pytest.raises(HTTPResponseError) as refused:
            await rest.create_message(5, content="c")
        assert (refused.value.status, refused.value.code, refused.value.message) == (403, 50001, "Missing Access")
        assert server.calls == 7
    finally:
        await rest.close()


async def test_connection_errors_are_retried_then_raised() -> None:
    import aiohttp

    from rustyclaw.adapters.channels import discord_rest as module

    attempts: list[int] = []
    real = module._backoff

    def counting(attempt: int) -> float:
        attempts.append(attempt)
        return 0.0

    module._backoff = counting
    try:
        rest = await _client("http://127.0.0.1:9/api/v10", retries=2)  # discard port: refused
        try:
            with pytest.raises(aiohttp.ClientConnectionError):
                await rest.trigger_typing(5)
        finally:
            await rest.close()
    finally:
        module._backoff = real
    assert attempts == [1, 2]


def test_the_token_names_the_bot() -> None:
    token = base64.b64encode(b"800000000000000123").decode().rstrip("=") + ".abc.def"
    assert token_id(token) == 800000000000000123
    for bad in ("not a token", "", "@@@.x.y"):
        with pytest.raises(ValueError):
            token_id(bad)


def test_backoff_grows_and_is_capped() -> None:
    assert 1 <= discord_rest._backoff(1) < 2 and 4 <= discord_rest._backoff(3) < 5
    assert 16 <= discord_rest._backoff(10) < 17
