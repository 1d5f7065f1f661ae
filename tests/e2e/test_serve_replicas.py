"""`gateway.replicas` end to end: two `rustyclaw serve` processes, each with its own state folder, on
one PostgreSQL database (a throwaway schema). One leads (its `/readyz` says so, and only its cron
runs); after a `kill -9` of the leader the other takes the lease, says so, and runs cron. A turn on
the follower still sends to Telegram (the `message` tool) while only the leader polls it.

Waiting across processes can only poll what they show (their `/readyz`, their files); each wait is
for a condition, bounded so a bug fails the test instead of hanging it, and no duration is asserted.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from tests.e2e.gateway_process import GatewayProcess, wait_for, write_config
from tests.fixtures.llm_servers import LLMockServer
from tests.fixtures.postgres_schema import temporary_schema_sync
from tests.fixtures.telegram_emulator import TelegramEmulator, telegram_emulator, telegram_token

__all__ = ["telegram_emulator", "telegram_token"]
USER = 4343

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

BOUND = 60.0  # a hang guard, not an expectation


@pytest.fixture
def schema_dsn() -> Iterator[str]:
    with temporary_schema_sync("replicas") as dsn:
        yield dsn


def replicas_field(gateway: GatewayProcess) -> dict[str, Any]:
    body = httpx.get(f"{gateway.url}/readyz", timeout=5).json()
    found: dict[str, Any] = body["replicas"]
    return found


def cron_runs(gateway: GatewayProcess) -> int:
    """Runs of the `tick` job this replica made (its own log; the run history is shared in the database)."""
    return gateway.log_path.read_text(errors="replace").count("cron job tick: done")


def two_replicas(
    tmp_path: Path, mock_llm: LLMockServer, dsn: str, **extra: Any
) -> tuple[list[GatewayProcess], list[Path]]:
    gateways: list[GatewayProcess] = []
    states: list[Path] = []
    for name in ("a", "b"):
        state = tmp_path / name / "state"
        state.mkdir(parents=True)
        config = write_config(
            tmp_path / name / "config.yaml", state, mock_llm.base_url, "m",
            # 5 s, not less: renewals every TTL/3 must survive a loaded 2-core CI machine, or the
            # leader loses its lease mid-test (seen with 2 s) and the assertions race a failover.
            gateway={"replicas": {"enabled": True, "leaseSeconds": 5}},
            storage={"backend": "postgres", "postgres": {"dsn": dsn}}, **extra,
        )
        gateways.append(GatewayProcess(config, tmp_path / name))
        states.append(state)
    return gateways, states


def test_one_of_two_replicas_leads_and_the_other_takes_over_after_a_kill(
    tmp_path: Path, mock_llm: LLMockServer, schema_dsn: str
) -> None:
    mock_llm.reply("tick done", times=None)
    gateways, _ = two_replicas(
        tmp_path, mock_llm, schema_dsn,
        cron={"jobs": [{"id": "tick", "schedule": {"every": "1s"}, "message": "Tick."}]},
    )
    a, b = gateways
    try:
        a.start()
        wait_for("a leads", lambda: replicas_field(a)["leader"] is True, a)
        b.start()  # ready means its first election round is over: a's lease stood
        assert replicas_field(b) == {"leader": False, "term": None}
        assert replicas_field(a) == {"leader": True, "term": 1}

        wait_for("a's cron ran twice", lambda: cron_runs(a) >= 2, a, b)
        assert cron_runs(b) == 0  # b is a follower: no scheduler runs there
        assert replicas_field(b)["leader"] is False

        assert a.process is not None
        a.process.send_signal(signal.SIGKILL)  # no release: b must wait for the lease to expire
        a.process.wait(timeout=15)
        wait_for("b leads after a was killed", lambda: replicas_field(b)["leader"] is True, b)
        assert replicas_field(b) == {"leader": True, "term": 2}
        wait_for("b's cron runs", lambda: cron_runs(b) >= 1, b)
        assert "leads 'gateway', term 2" in b.log()
    finally:
        for gateway in gateways:
            if gateway.process is not None and gateway.process.poll() is None:
                gateway.stop()


def test_telegram_polling_runs_on_the_leader_only_and_webhook_channels_on_every_replica(
    tmp_path: Path, mock_llm: LLMockServer, schema_dsn: str, telegram_emulator: TelegramEmulator,
    telegram_token: str,
) -> None:
    mock_llm.reply("pong", times=None)
    gateways, _ = two_replicas(tmp_path, mock_llm, schema_dsn, channels={
        "telegram": {"enabled": True, "botToken": telegram_token, "apiBaseUrl": telegram_emulator.base_url,
                     "dmPolicy": "open", "allowFrom": ["*"]},
        "whatsapp": {"enabled": True, "accessToken": "wa-token", "appSecret": "wa-secret",
                     "verifyToken": "wa-verify", "phoneNumberId": "15550001", "apiBaseUrl": "http://127.0.0.1:9"},
    })
    a, b = gateways

    def channels(gateway: GatewayProcess) -> dict[str, Any]:
        found: dict[str, Any] = httpx.get(f"{gateway.url}/readyz", timeout=5).json()["channels"]
        return found

    async def answered(text: str) -> list[str]:
        await telegram_emulator.user_message(telegram_token, text, user_id=USER)
        return await telegram_emulator.wait_bot_texts(telegram_token, USER, 1, within=BOUND)

    try:
        a.start()
        wait_for("a polls Telegram", lambda: channels(a)["telegram"] == {"state": "connected"}, a)
        b.start()
        assert channels(b)["telegram"] == {"state": "standby"}  # polling twice would answer twice
        assert channels(a)["whatsapp"] == channels(b)["whatsapp"] == {"state": "connected"}
        assert anyio.run(answered, "ping 1") == ["pong"]

        assert a.process is not None
        a.process.send_signal(signal.SIGKILL)
        a.process.wait(timeout=15)
        wait_for("b polls Telegram", lambda: channels(b)["telegram"] == {"state": "connected"}, b)
        # Answered once, by b; a second answer to "ping 1" would show up here as well.
        assert anyio.run(answered, "ping 2") == ["pong"]
    finally:
        for gateway in gateways:
            if gateway.process is not None and gateway.process.poll() is None:
                gateway.stop()


class BotApiRecorder:
    """A pass-through in front of the Telegram emulator that notes the Bot API methods called through
    it: each replica gets its own, so the test sees which replica polled and which one sent."""

    def __init__(self, upstream: str) -> None:
        self.methods: list[str] = []
        recorder = self

        class Forward(BaseHTTPRequestHandler):
            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                # The method is the path's last part: /bot<token>/<method>.
                recorder.methods.append(self.path.split("?", 1)[0].rsplit("/", 1)[-1])
                headers = {k: v for k, v in self.headers.items() if k.lower() == "content-type"}
                answer = httpx.request(self.command, upstream + self.path, content=body, headers=headers,
                                       timeout=BOUND)
                self.send_response(answer.status_code)
                self.send_header("Content-Type", answer.headers.get("content-type", "application/json"))
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            do_GET = do_POST = _forward

            def log_message(self, format: str, *args: Any) -> None:  # quiet: the test log shows the gateways
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Forward)
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="bot-api-recorder", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


def test_a_turn_on_the_follower_sends_to_telegram_while_only_the_leader_polls(
    tmp_path: Path, mock_llm: LLMockServer, schema_dsn: str, telegram_emulator: TelegramEmulator,
    telegram_token: str,
) -> None:
    # The follower's web chat turn: the model calls `message` to the Telegram chat, then answers.
    mock_llm.call_tool("message", {"channel": "telegram", "to": str(USER), "text": "hello from b"})
    mock_llm.reply("sent it")
    recorders = {name: BotApiRecorder(telegram_emulator.base_url) for name in ("a", "b")}
    gateways: list[GatewayProcess] = []
    for name, recorder in recorders.items():
        state = tmp_path / name / "state"
        state.mkdir(parents=True)
        config = write_config(
            tmp_path / name / "config.yaml", state, mock_llm.base_url, "m",
            gateway={"replicas": {"enabled": True, "leaseSeconds": 5}},
            storage={"backend": "postgres", "postgres": {"dsn": schema_dsn}},
            channels={"telegram": {"enabled": True, "botToken": telegram_token, "apiBaseUrl": recorder.base_url,
                                   "dmPolicy": "open", "allowFrom": ["*"]}},
        )
        gateways.append(GatewayProcess(config, tmp_path / name))
    a, b = gateways

    def telegram_state(gateway: GatewayProcess) -> Any:
        return httpx.get(f"{gateway.url}/readyz", timeout=5).json()["channels"]["telegram"]

    try:
        a.start()
        wait_for("a polls Telegram", lambda: "getUpdates" in recorders["a"].methods, a)
        b.start()
        assert telegram_state(b) == {"state": "standby"}
        assert replicas_field(b)["leader"] is False

        turn = httpx.post(f"{b.url}/api/chat", json={"message": "tell them hello"}, timeout=BOUND)
        assert turn.status_code == 200, turn.text
        # The tool's result the model saw: the send went through, not "channel is not running".
        assert "sent to telegram:4343" in str(mock_llm.chat_bodies()[-1]["messages"])
        texts = anyio.run(lambda: telegram_emulator.wait_bot_texts(telegram_token, USER, 1, within=BOUND))
        assert texts == ["hello from b"]

        assert "sendMessage" in recorders["b"].methods  # the follower itself sent it
        assert "sendMessage" not in recorders["a"].methods
        assert "getUpdates" not in recorders["b"].methods  # and it never received
        assert telegram_state(b) == {"state": "standby"}
        assert replicas_field(b)["leader"] is False  # no failover in between made b the sender
    finally:
        for gateway in gateways:
            if gateway.process is not None and gateway.process.poll() is None:
                gateway.stop()
        for recorder in recorders.values():
            recorder.close()
