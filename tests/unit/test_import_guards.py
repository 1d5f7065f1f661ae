"""rustyclaw.import_guards: httpx loads without its CLI or trio, granian without uvloop or watchfiles; both work,
and the hidden modules stay importable afterwards.

Each case runs in a fresh interpreter: the test process has imported httpx (and maybe trio) already.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

_PROBE = r"""
import asyncio, json, sys
from rustyclaw import import_guards
import_guards.install()
import httpx

async def call() -> str:
    # A real httpcore transport over a loopback socket, so httpcore's asyncio path (anyio) runs.
    async def answer(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
        await writer.drain()
        writer.close()
    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server, httpx.AsyncClient() as client:
        return (await client.get(f"http://127.0.0.1:{port}/")).text

body = asyncio.run(call())
loaded = {name: name in sys.modules for name in ("httpcore", "click", "rich", "trio")}
import granian  # the last guarded package: the finder is gone after it
guard_left = any(type(f).__module__ == "rustyclaw.import_guards" for f in sys.meta_path)
try:
    import trio  # noqa: F401
    trio_importable = True
except ImportError:
    trio_importable = False
print(json.dumps({"body": body, "loaded": loaded, "guard_left": guard_left, "trio_importable": trio_importable,
                  "main_is_stub": httpx.main.__module__ == "httpx"}))
"""


def probe() -> dict[str, object]:
    out = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True, timeout=60)
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def test_httpx_works_without_its_cli_and_trio() -> None:
    result = probe()
    assert result["body"] == "ok"
    loaded = result["loaded"]
    assert isinstance(loaded, dict)
    assert loaded["httpcore"] is True
    assert loaded["click"] is False and loaded["rich"] is False, "httpx._main (click, rich) was imported"
    assert result["main_is_stub"] is True  # httpx's own fallback main(), defined in httpx/__init__.py
    assert result["guard_left"] is False, "the finder should leave sys.meta_path after httpx, httpcore, granian"


def test_trio_is_hidden_only_during_the_httpx_import() -> None:
    # trio is in the test extra: without it this test would prove nothing, so it must not be skipped.
    assert importlib.util.find_spec("trio") is not None, "trio is missing: pip install -e .[test]"
    result = probe()
    loaded = result["loaded"]
    assert isinstance(loaded, dict)
    assert loaded["trio"] is False
    assert result["trio_importable"] is True


_GRANIAN_PROBE = r"""
import json, sys
from rustyclaw import import_guards
import_guards.install()
from granian.constants import Interfaces
from granian.server.embed import Server
loaded = {name: name in sys.modules for name in ("uvloop", "watchfiles")}
importable = {}
for name in ("uvloop", "watchfiles"):
    try:
        __import__(name)
        importable[name] = True
    except ImportError:
        importable[name] = False
print(json.dumps({"loaded": loaded, "importable": importable, "asgi": Interfaces.ASGINL.value,
                  "server": Server.__name__}))
"""


def test_granian_loads_without_uvloop_and_watchfiles() -> None:
    out = subprocess.run([sys.executable, "-c", _GRANIAN_PROBE], capture_output=True, text=True, check=True,
                         timeout=60)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["server"] == "Server"
    assert result["loaded"] == {"uvloop": False, "watchfiles": False}
    for name in ("uvloop", "watchfiles"):  # hidden during granian's import only
        assert result["importable"][name] is (importlib.util.find_spec(name) is not None)


def test_install_changes_nothing_once_the_packages_are_loaded() -> None:
    setup = "import sys, httpx, httpcore, granian\n"
    code = setup + ("from rustyclaw import import_guards\nimport_guards.install()\n"
                    "print('httpx._main' in sys.modules and sys.modules['httpx._main'] is None, len(sys.meta_path))")
    before = subprocess.run([sys.executable, "-c", setup + "print(False, len(sys.meta_path))"],
                            capture_output=True, text=True, check=True).stdout
    after = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert after == before
