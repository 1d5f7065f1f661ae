"""`rustyclaw chat`: the same core as the gateway, driven from the terminal."""

from __future__ import annotations

import sys
from typing import Any

import anyio

from rustyclaw.config.loader import load_config
from rustyclaw.domain.errors import InvalidInputError
from rustyclaw.domain.events import ReplyDelta, ToolActivity, TurnEvent
from rustyclaw.domain.messages import InboundMessage
from rustyclaw.logs import setup_logging


async def _chat(cfg: Any, session: str) -> int:
    from rustyclaw.app import Core

    core = Core(cfg)
    gateway = await core.start()
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(core.run_background)
            if core.models.notice:
                print(core.models.notice, file=sys.stderr)
            print("rustyclaw chat: type a message, /help for commands, Ctrl-D to leave.")
            while True:
                line = await anyio.to_thread.run_sync(_read_line)
                if line is None:
                    break
                if not line.strip():
                    continue
                await _turn(gateway, line, session)
            tg.cancel_scope.cancel()
    finally:
        await core.aclose()
    return 0


def _read_line() -> str | None:
    try:
        return input("you> ")
    except EOFError:
        return None


async def _turn(gateway: Any, text: str, session: str) -> None:
    streamed = False

    async def emit(event: TurnEvent) -> None:
        nonlocal streamed
        if isinstance(event, ReplyDelta):
            if not streamed:
                sys.stdout.write("assistant> ")
                streamed = True
            sys.stdout.write(event.text)
            sys.stdout.flush()
        elif isinstance(event, ToolActivity) and event.status != "started":
            sys.stdout.write(f"\n  [{event.name}: {event.status}]\n")

    message = InboundMessage(channel="cli", peer_id="local", sender_id="local", text=text,
                             session_hint=session)
    try:
        reply = await gateway.handle(message, emit)
    except InvalidInputError as exc:
        print(f"error: {exc}")
        return
    if reply is None:
        return
    if not streamed or reply.error:
        print(f"assistant> {reply.text}" if not streamed else f"\n{reply.text}")
    else:
        print()


def run_chat(config_path: str | None, session: str) -> int:
    loaded = load_config(config_path)
    cfg = loaded.config
    setup_logging("warning", cfg.gateway.log_format, loaded.secret_values())
    return anyio.run(_chat, cfg, session)
