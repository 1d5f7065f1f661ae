"""`rustyclaw serve` with Telegram or Discord enabled against their local stand-ins: memory, start, SIGTERM.

Figures (memory ones are floored in CI; times are reported):
- ``<channel>_idle_rss_mb``: VmRSS 2 s after the channel reports ``connected`` on `/readyz`.
- ``<channel>_rss_after_first_reply_mb``: after one user message was answered on that channel.
- ``<channel>_connected_s``: spawn to ``connected`` (the aiogram / hikari import included).
- ``telegram_web_reply_while_connecting_s``: a web chat request sent as soon as `/readyz` answers,
  while the Telegram channel is still loading aiogram; `_while_connecting` in the details says
  whether the channel was indeed still connecting when the reply came back.
- ``<channel>_sigterm_exit_max_s``: SIGTERM sent right after `/readyz` first answers (the
  channel's import running in its thread), to process exit; the slowest of 3.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from benchmarks import http_load
from benchmarks.channel_standins import Discord, Telegram, channel_state, wait_channel
from benchmarks.figures import Figures
from benchmarks.processes import ServeProcess, StubLLM, rss_mb, write_config

IDLE_SETTLE_SECONDS = 2.0
SIGTERM_RUNS = 3
BUDGET_MB = {"telegram": 70.0, "discord": 60.0}
OPEN_DMS = {"enabled": True, "dmPolicy": "open", "allowFrom": ["*"]}


def _telegram_config(home: Path, stub: StubLLM, telegram: Telegram) -> Path:
    section = {**OPEN_DMS, "botToken": telegram.token, "apiBaseUrl": telegram.base_url, "pollInterval": 0.2}
    return write_config(home, stub.base_url, channels={"telegram": section})


def _discord_config(home: Path, stub: StubLLM, discord: Discord) -> Path:
    section = {**OPEN_DMS, "token": discord.standin.token, "restBaseUrl": discord.standin.base_url}
    return write_config(home, stub.base_url, channels={"discord": section})


def _sigterm_exit_seconds(config: Path, home: Path) -> tuple[float, str | None]:
    serve = ServeProcess(config, home)
    serve.start()
    state = channel_state(serve.port, config_channel(config))
    assert serve.process is not None
    started = time.perf_counter()
    serve.process.terminate()
    serve.process.wait(timeout=60)
    return time.perf_counter() - started, state


def config_channel(config: Path) -> str:
    return "telegram" if '"telegram"' in config.read_text() else "discord"


@pytest.fixture(scope="module")
def telegram() -> object:
    emulator = Telegram()
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture(scope="module")
def discord() -> object:
    standin = Discord()
    try:
        yield standin
    finally:
        standin.stop()


def _measure(name: str, config: Path, home: Path, say: object, wait_reply: object, figures: Figures) -> None:
    serve = ServeProcess(config, home)
    spawn = time.perf_counter()
    serve.start()
    try:
        wait_channel(serve.port, name)
        connected = time.perf_counter() - spawn
        time.sleep(IDLE_SETTLE_SECONDS)
        idle, idle_hwm = rss_mb(serve.pid)
        say("hello from the benchmark")  # type: ignore[operator]
        reply = wait_reply()  # type: ignore[operator]
        assert reply, "the bot sent an empty reply"
        time.sleep(0.5)
        first, first_hwm = rss_mb(serve.pid)
    finally:
        assert serve.stop() == 0, serve.log()
    figures.record(f"{name}_idle_rss_mb", idle, "MB", BUDGET_MB[name],
                   f"VmRSS {IDLE_SETTLE_SECONDS:g} s after connected")
    figures.record(f"{name}_idle_hwm_mb", idle_hwm, "MB")
    figures.record(f"{name}_rss_after_first_reply_mb", first, "MB", None, f"VmHWM {first_hwm:.1f} MB")
    figures.record(f"{name}_connected_s", connected, "s", None, "spawn to connected on /readyz")


def test_telegram_enabled(telegram: Telegram, gateway_stub_llm: StubLLM, tmp_path: Path, figures: Figures) -> None:
    home = tmp_path / "tg"
    home.mkdir()
    config = _telegram_config(home, gateway_stub_llm, telegram)
    _measure("telegram", config, home, telegram.say, telegram.wait_reply, figures)

    # The web chat answers while the channel is still loading aiogram.
    home2 = tmp_path / "tg-web"
    home2.mkdir()
    serve = ServeProcess(_telegram_config(home2, gateway_stub_llm, telegram), home2)
    serve.start()
    try:
        before = channel_state(serve.port, "telegram")
        started = time.perf_counter()
        http_load.chat_load("127.0.0.1", serve.port, sessions=1, per_session=1, concurrency=1, stream=False,
                            prefix="web-first")
        web_reply = time.perf_counter() - started
        after = channel_state(serve.port, "telegram")
        wait_channel(serve.port, "telegram")
    finally:
        assert serve.stop() == 0, serve.log()
    figures.record("telegram_web_reply_while_connecting_s", web_reply, "s", None,
                   f"channel {before} before the request, {after} after its reply")
    figures.detail("telegram_web_reply_while_connecting", {"state_before": before, "state_after_reply": after})

    exits: list[float] = []
    states: list[str | None] = []
    for run in range(SIGTERM_RUNS):
        home3 = tmp_path / f"tg-term{run}"
        home3.mkdir()
        seconds, state = _sigterm_exit_seconds(_telegram_config(home3, gateway_stub_llm, telegram), home3)
        exits.append(seconds)
        states.append(state)
    figures.record("telegram_sigterm_exit_max_s", max(exits), "s", 1.0,
                   f"SIGTERM at the first /readyz (channel states {states}); slowest of {SIGTERM_RUNS}")
    figures.detail("telegram_sigterm_exit_s", [round(s, 3) for s in exits])


def test_discord_enabled(discord: Discord, gateway_stub_llm: StubLLM, tmp_path: Path, figures: Figures) -> None:
    home = tmp_path / "dc"
    home.mkdir()
    config = _discord_config(home, gateway_stub_llm, discord)
    _measure("discord", config, home, discord.say, discord.wait_reply, figures)

    exits: list[float] = []
    for run in range(SIGTERM_RUNS):
        home3 = tmp_path / f"dc-term{run}"
        home3.mkdir()
        seconds, _ = _sigterm_exit_seconds(_discord_config(home3, gateway_stub_llm, discord), home3)
        exits.append(seconds)
    figures.record("discord_sigterm_exit_max_s", max(exits), "s", 1.0, f"slowest of {SIGTERM_RUNS}")
    figures.detail("discord_sigterm_exit_s", [round(s, 3) for s in exits])
