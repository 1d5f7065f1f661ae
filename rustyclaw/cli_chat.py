"""`rustyclaw chat`: the same core as the gateway, driven from the terminal."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import anyio

from rustyclaw.domain.errors import InvalidInputError
from rustyclaw.domain.events import ReplyDelta, ToolActivity, TurnEvent
from rustyclaw.domain.messages import InboundMessage
from rustyclaw.logs import setup_logging
from rustyclaw.settings import Settings, load_settings

if TYPE_CHECKING:
    from rustyclaw.domain.gateway import Gateway


async def _chat(settings: Settings, session: str) -> int:
    from rustyclaw.app import bootstrap

    # The lifecycle starts everything or, on a start-up error, stops what had started and raises:
    # nothing (an SQLite thread) is left to keep the process alive.
    async with bootstrap(settings, "core") as root:
        if root.models.notice:
            print(root.models.notice, file=sys.stderr)
        print("rustyclaw chat: type a message, /help for commands, Ctrl-D to leave.")
        while True:
            line = await anyio.to_thread.run_sync(_read_line, abandon_on_cancel=True)
            if line is None:
                break
            if not line.strip():
                continue
            await _turn(root.gateway, line, session)
    return 0


def _read_line() -> str | None:
    try:
        return input("you> ")
    except EOFError:
        return None


async def _turn(gateway: Gateway, text: str, session: str) -> None:
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
    settings = load_settings(config_path)
    setup_logging("warning", settings.config.gateway.log_format, settings.secrets)
    return anyio.run(_chat, settings, session)
