"""aiogram's session over the lean HTTP/1.1 client (adapters/channels/aiogram_http11.py), real aiogram.

Against a scripted asyncio server (what goes over the wire, error mapping, timeouts) and the Bot API
emulator (real calls, a multipart upload read back, a file download). The process-level claims (no
httpx, no unittest at idle) are in test_aiogram_lean.py, which runs in fresh interpreters.
"""

from __future__ import annotations

import asyncio
import email.parser
import email.policy
import json
from typing import Any
from urllib.parse import parse_qs

import pytest

from rustyclaw.adapters.channels.aiogram_http11 import (
    HTTPStatusError,
    LeanSession,
    encode_form,
    multipart_body,
    session_for,
)
from tests.fixtures.telegram_emulator import TelegramEmulator, telegram_emulator, telegram_token
from tests.unit.test_llm_http11 import keep_alive_replies, read_request, server

__all__ = ["telegram_emulator", "telegram_token"]

pytestmark = pytest.mark.anyio

TOKEN = "123456:AAH-test_token"


def answer(payload: object, status: str = "200 OK") -> bytes:
    body = json.dumps(payload).encode()
    return b"HTTP/1.1 %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (
        status.encode(), len(body), body)


def bot_on(port: int, **session: object) -> object:
    from aiogram import Bot
    from aiogram.client.telegram import TelegramAPIServer

    return Bot(TOKEN, session=LeanSession(api=TelegramAPIServer.from_base(f"http://127.0.0.1:{port}"), **session))


def parts_of(body: bytes, content_type: str) -> list[tuple[Any, Any, Any]]:
    """(name, filename, payload) of each part, read back by the standard library's MIME parser."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"content-type: " + content_type.encode() + b"\r\n\r\n" + body)
    assert message.is_multipart()
    return [(part.get_param("name", header="content-disposition"), part.get_filename(),
             part.get_payload(decode=True)) for part in message.iter_parts()]


def test_fields_are_url_encoded_and_files_go_multipart() -> None:
    body, content_type = encode_form({"chat_id": "42", "text": "a&b=c ü"}, {})
    assert content_type == "application/x-www-form-urlencoded"
    assert parse_qs(body.decode()) == {"chat_id": ["42"], "text": ["a&b=c ü"]}

    body, content_type = encode_form({"chat_id": "42"}, {"voice": ("note.ogg", b"OggS\x00\r\n--x")})
    assert content_type.startswith("multipart/form-data; boundary=")
    assert parts_of(body, content_type) == [("chat_id", None, b"42"), ("voice", "note.ogg", b"OggS\x00\r\n--x")]


def test_multipart_parameters_are_escaped_as_browsers_do() -> None:
    body, content_type = multipart_body({}, {'we"ird\\': ('a"b\r\nc.png', b"PNG")}, boundary="b0")
    assert content_type == "multipart/form-data; boundary=b0"
    assert (b'Content-Disposition: form-data; name="we%22ird\\\\"; filename="a%22b%0D%0Ac.png"\r\n'
            b"Content-Type: application/octet-stream\r\n\r\nPNG\r\n--b0--\r\n") in body
    assert b"\r\nc.png" not in body  # a file name never splits the part's header


async def test_a_call_goes_out_as_aiogram_sends_it_and_its_answer_is_parsed() -> None:
    me = {"ok": True, "result": {"id": 7, "is_bot": True, "first_name": "B", "username": "bee"}}
    async with server(keep_alive_replies(answer(me))) as (port, seen, connections):
        bot = bot_on(port)
        try:
            user = await bot.get_me()  # type: ignore[attr-defined]
            again = await bot.get_me()  # type: ignore[attr-defined]
        finally:
            await bot.session.close()  # type: ignore[attr-defined]
    assert (user.id, user.username, again.id) == (7, "bee", 7)
    assert len(connections) == 1  # keep-alive
    assert seen[0].startswith(f"POST /bot{TOKEN}/getMe HTTP/1.1\r\n".encode())
    assert b"content-type: application/x-www-form-urlencoded\r\n" in seen[0]
    assert b"user-agent: aiogram/" in seen[0]


async def test_api_errors_are_aiogram_s_own() -> None:
    from aiogram.exceptions import TelegramBadRequest, TelegramUnauthorizedError

    refused = answer({"ok": False, "error_code": 401, "description": "Unauthorized"}, "401 Unauthorized")
    async with server(keep_alive_replies(refused)) as (port, _, _connections):
        bot = bot_on(port)
        with pytest.raises(TelegramUnauthorizedError):
            await bot.get_me()  # type: ignore[attr-defined]
        await bot.session.close()  # type: ignore[attr-defined]
    bad = answer({"ok": False, "error_code": 400, "description": "Bad Request: chat not found"}, "400 Bad Request")
    async with server(keep_alive_replies(bad)) as (port, _, _connections):
        bot = bot_on(port)
        with pytest.raises(TelegramBadRequest, match="chat not found"):
            await bot.send_message(1, "hi")  # type: ignore[attr-defined]
        await bot.session.close()  # type: ignore[attr-defined]


async def test_transport_failures_and_timeouts_are_telegram_network_errors() -> None:
    from aiogram.exceptions import TelegramNetworkError

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: list[bytes]) -> None:
        await read_request(reader)
        await reader.read()  # a long poll that outlives the request's timeout

    async with server(silent) as (port, _, _connections):
        bot = bot_on(port, timeout=0.3)
        with pytest.raises(TelegramNetworkError, match="Request timeout error"):
            await bot.get_me()  # type: ignore[attr-defined]
        with pytest.raises(TelegramNetworkError, match="Request timeout error"):
            await bot.get_updates(timeout=0, request_timeout=0.2)  # type: ignore[attr-defined]
        await bot.session.close()  # type: ignore[attr-defined]

    async def cut(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: list[bytes]) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{\"ok\"")
        await writer.drain()

    async with server(cut) as (port, _, _connections):
        bot = bot_on(port)
        with pytest.raises(TelegramNetworkError, match="HTTPBroken"):
            await bot.get_me()  # type: ignore[attr-defined]
        await bot.session.close()  # type: ignore[attr-defined]

    srv = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    srv.close()
    await srv.wait_closed()
    bot = bot_on(port)
    with pytest.raises(TelegramNetworkError, match="HTTPConnectError"):
        await bot.get_me()  # type: ignore[attr-defined]
    await bot.session.close()  # type: ignore[attr-defined]


async def test_stream_content_pieces_and_error_status() -> None:
    data = bytes(range(256)) * 40
    ok = b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % len(data) + data

    async def files(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: list[bytes]) -> None:
        for reply in (ok, b"HTTP/1.1 404 Not Found\r\ncontent-length: 9\r\n\r\nnot found"):
            head = await reader.readuntil(b"\r\n\r\n")  # GETs: no body
            seen.append(head)
            writer.write(reply)
            await writer.drain()

    async with server(files) as (port, seen, connections):
        session = LeanSession()
        url = f"http://127.0.0.1:{port}/file/bot{TOKEN}/voice/1.ogg"
        pieces = [piece async for piece in session.stream_content(url, headers={"range": "bytes=0-"},
                                                                  chunk_size=1000)]
        assert b"".join(pieces) == data and max(map(len, pieces)) == 1000
        with pytest.raises(HTTPStatusError) as refused:
            [piece async for piece in session.stream_content(url)]
        await session.close()
    assert refused.value.status_code == 404 and TOKEN not in str(refused.value)
    assert seen[0].startswith(f"GET /file/bot{TOKEN}/voice/1.ogg HTTP/1.1\r\n".encode())
    assert b"range: bytes=0-\r\n" in seen[0]
    assert len(connections) == 1


@pytest.mark.parametrize("kind", ["lean", "httpx"])
async def test_real_calls_upload_and_download_through_the_emulator(
    telegram_emulator: TelegramEmulator, telegram_token: str, kind: str
) -> None:
    """The channel's session, and the httpx one it falls back to behind a proxy, against the emulator."""
    from aiogram import Bot
    from aiogram.client.telegram import TelegramAPIServer
    from aiogram.types import BufferedInputFile

    from rustyclaw.adapters.channels.aiogram_httpx import HttpxSession

    if kind == "lean":
        session = session_for(telegram_emulator.base_url)
        assert isinstance(session, LeanSession)
    else:
        session = HttpxSession(api=TelegramAPIServer.from_base(telegram_emulator.base_url))
    bot = Bot(telegram_token, session=session)
    try:
        me = await bot.get_me()
        assert me.is_bot
        voice = b"OggS" + bytes(range(256)) * 8
        sent = await bot.send_voice(1001, BufferedInputFile(voice, filename="reply.ogg"))
        assert sent.voice is not None
        [uploaded] = await telegram_emulator.wait_bot_voices(telegram_token, 1001, 1)
        assert uploaded["data"] == voice  # the multipart body, read back by the emulator
        assert str(uploaded["chat_id"]) == "1001"
        await telegram_emulator.add_file(telegram_token, "file-9", b"x" * 70_000)
        info = await bot.get_file("file-9")
        assert info.file_path
        url = bot.session.api.file_url(telegram_token, info.file_path)
        assert b"".join([chunk async for chunk in bot.session.stream_content(url)]) == b"x" * 70_000
    finally:
        await bot.session.close()


def test_a_proxy_for_the_bot_api_falls_back_to_httpx(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from aiogram.client.telegram import PRODUCTION

    from rustyclaw.adapters.channels.aiogram_httpx import HttpxSession

    for name in [n for n in os.environ if n.lower().endswith("_proxy")]:
        monkeypatch.delenv(name)
    lean = session_for(None)
    assert isinstance(lean, LeanSession) and lean.api is PRODUCTION
    assert isinstance(session_for("http://127.0.0.1:8081"), LeanSession)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.lan:3128")
    proxied = session_for(None)
    assert isinstance(proxied, HttpxSession) and proxied.api is PRODUCTION
    assert isinstance(session_for("http://127.0.0.1:8081"), LeanSession)  # no proxy for plain http
