"""The local platform stand-ins for the channel benchmarks, run outside pytest's event loop.

- Telegram: the Bot API emulator the integration tests use (node, tests/emulators/telegram), in a
  child process; the user's side goes through its HTTP routes.
- Discord: tests/fixtures/discord_standin.py (an aiohttp server: REST + gateway websocket), on its
  own event loop in a daemon thread of the benchmark process.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
import urllib.request
from collections.abc import Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")


def readyz(port: int) -> dict[str, Any] | None:
    """The body of the gateway's `/readyz` (None while nothing answers)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
            body: dict[str, Any] = json.loads(response.read())
            return body
    except (OSError, ValueError):
        return None


def channel_state(port: int, name: str) -> str | None:
    body = readyz(port)
    if body is None:
        return None
    state = body.get("channels", {}).get(name, {}).get("state")
    return str(state) if state is not None else None


def wait_channel(port: int, name: str, state: str = "connected", within: float = 60.0) -> float:
    """Seconds until the gateway reports `name` in `state` (raises after `within`)."""
    started = time.perf_counter()
    while time.perf_counter() - started < within:
        if channel_state(port, name) == state:
            return time.perf_counter() - started
        time.sleep(0.02)
    raise TimeoutError(f"channel {name} not {state} within {within} s (last: {channel_state(port, name)})")


class Telegram:
    """The Bot API emulator (node) and one bot token."""

    def __init__(self) -> None:
        from tests.fixtures.telegram_emulator import start_emulator

        self._proc, self.handle = start_emulator()
        self.token = "700001:BENCH-token_700002"

    @property
    def base_url(self) -> str:
        return self.handle.base_url

    def _post(self, path: str, body: dict[str, Any]) -> Any:
        request = urllib.request.Request(self.base_url + path, data=json.dumps(body).encode(),
                                         headers={"content-type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def say(self, text: str, user_id: int = 5005) -> None:
        self._post("/sendMessage", {
            "botToken": self.token, "text": text, "date": int(time.time()),
            "from": {"id": user_id, "is_bot": False, "first_name": "Bench", "username": "bench"},
            "chat": {"id": user_id, "type": "private", "first_name": "Bench"},
        })

    def wait_reply(self, user_id: int = 5005, within: float = 30.0) -> str:
        started = time.perf_counter()
        while time.perf_counter() - started < within:
            data = self._post("/getUpdates", {"token": self.token, "chatId": user_id})
            texts = [str(item["message"].get("text", "")) for item in data.get("result", [])]
            if texts:
                return texts[0]
            time.sleep(0.05)
        raise TimeoutError("the bot did not reply on Telegram")

    def stop(self) -> None:
        self._proc.terminate()
        self._proc.wait(timeout=10)
        if self._proc.stdout is not None:
            self._proc.stdout.close()


class Discord:
    """The Discord stand-in on a private event loop thread."""

    def __init__(self) -> None:
        from tests.fixtures.discord_standin import DiscordStandIn

        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="discord-standin", daemon=True)
        self._thread.start()
        self.standin = DiscordStandIn()
        self._run(self.standin.start())

    def _run(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return future.result(timeout)

    def say(self, text: str, user_id: str = "424242") -> None:
        self._run(self.standin.user_message(text, user_id=user_id))

    def wait_reply(self, user_id: str = "424242", within: float = 30.0) -> str:
        sent = self._run(self.standin.wait_sent(self.standin.dm_channel_of(user_id), 1, within=within),
                         timeout=within + 5)
        return str(sent[0].get("content", ""))

    def stop(self) -> None:
        self._run(self.standin.stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0
