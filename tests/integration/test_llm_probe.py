"""The model probe of `/readyz` over plain HTTP: real sockets, no httpx import (idle memory)."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest

from rustyclaw.adapters.llm.embedded_llama import free_port, probe

pytestmark = pytest.mark.anyio


async def serve_models(status: bytes) -> tuple[asyncio.Server, str]:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        line = await reader.readline()
        await reader.readuntil(b"\r\n\r\n")
        code = status if line.startswith(b"GET /v1/models ") else b"404 Not Found"
        writer.write(b"HTTP/1.1 " + code + b"\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}")
        await writer.drain()
        writer.close()
        await writer.wait_closed()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}/v1"


async def test_a_200_from_models_is_reachable_anything_else_is_not() -> None:
    ok, ok_url = await serve_models(b"200 OK")
    bad, bad_url = await serve_models(b"503 Service Unavailable")
    async with ok, bad:
        assert await probe(ok_url) is True
        assert await probe(bad_url) is False
        assert await probe(ok_url.replace("/v1", "/other")) is False
    assert await probe(f"http://127.0.0.1:{free_port()}/v1") is False  # nothing listening


async def test_a_server_that_never_answers_times_out() -> None:
    closed = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.read()  # holds the connection open without answering, until the probe gives up
        finally:
            writer.close()
            closed.set()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    async with server:
        port = server.sockets[0].getsockname()[1]
        assert await probe(f"http://127.0.0.1:{port}/v1", timeout=0.2) is False
        await closed.wait()  # the probe closed its connection when it gave up


def test_probing_plain_http_imports_no_httpx() -> None:
    code = (
        "import sys, anyio\n"
        "from rustyclaw.adapters.llm.embedded_llama import probe\n"
        "anyio.run(probe, 'http://127.0.0.1:9/v1')\n"
        "print('httpx' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "False"
