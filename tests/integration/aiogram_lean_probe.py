"""Run in a fresh interpreter by test_aiogram_lean.py: the lean aiogram against the Bot API emulator.

    python -m tests.integration.aiogram_lean_probe <emulator base url> <bot token>

Prints one JSON object: what the import left unbuilt and unimported, and what real calls through
aiogram's Bot (on the channel's session, `aiogram_http11.session_for`) returned after the lean import.
"""

from __future__ import annotations

import asyncio
import json
import sys
import urllib.request
from typing import Any

# Modules the Telegram process should not hold at idle (what the lean import and session avoid).
NOT_LOADED = ("httpx", "httpcore", "unittest", "aiohttp", "aiogram.dispatcher.dispatcher", "aiogram.fsm",
              "aiogram.filters", "magic_filter", "html", "secrets", "hmac")


def loaded() -> list[str]:
    return [name for name in NOT_LOADED if name in sys.modules]


def post(url: str, body: dict[str, Any]) -> None:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()


async def probe(base_url: str, token: str) -> dict[str, Any]:
    from rustyclaw.adapters.channels import aiogram_lean  # noqa: I001  (the lean import must come first)
    from rustyclaw.adapters.channels.aiogram_http11 import session_for

    from aiogram import Bot, methods, types

    watched = {"Update": types.Update, "Message": types.Message, "Poll": types.Poll,
               "SendMessage": methods.SendMessage, "GetUpdates": methods.GetUpdates,
               "SendInvoice": methods.SendInvoice}
    out: dict[str, Any] = {
        "built_after_import": sorted(n for n, c in watched.items() if aiogram_lean.model_is_built(c)),
        "types_built_after_import": sum(
            1 for name in types.__all__ if aiogram_lean.model_is_built(getattr(types, name))
            if isinstance(getattr(types, name), type) and hasattr(getattr(types, name), "model_fields")
        ),
        "aiohttp_after_import": aiogram_lean.aiohttp_loaded(),
        "loaded_after_import": loaded(),
    }
    bot = Bot(token, session=session_for(base_url))
    out["session"] = type(bot.session).__name__
    try:
        me = await bot.get_me()
        out["me"] = {"id": me.id, "username": me.username, "is_bot": me.is_bot}
        await bot.delete_webhook()
        await asyncio.to_thread(post, base_url + "/sendMessage", {
            "botToken": token, "text": "hello lean", "date": 1_700_000_000,
            "from": {"id": 4242, "is_bot": False, "first_name": "Lena", "username": "lena"},
            "chat": {"id": 4242, "type": "private", "first_name": "Lena"},
        })
        updates = await bot.get_updates(timeout=0, allowed_updates=["message"])
        out["updates"] = [
            {"type": type(u).__name__, "text": u.message.text if u.message else None,
             "from": type(u.message.from_user).__name__ if u.message else None,
             "date_type": type(u.message.date).__name__ if u.message else None}
            for u in updates
        ]
        sent = await bot.send_message(4242, "reply from lean", reply_parameters=types.ReplyParameters(
            message_id=updates[-1].message.message_id if updates and updates[-1].message else 1,
            allow_sending_without_reply=True))
        out["sent"] = {"type": type(sent).__name__, "text": sent.text}
        try:
            methods.SendMessage(chat_id=1, text=None)  # type: ignore[arg-type]
            out["bad_method_refused"] = False
        except Exception as exc:  # pydantic's ValidationError: validation really runs
            out["bad_method_refused"] = type(exc).__name__
        try:
            types.Update.model_validate({"update_id": "not a number"})
            out["bad_update_refused"] = False
        except Exception as exc:
            out["bad_update_refused"] = type(exc).__name__
    finally:
        await bot.session.close()
    out["built_after_calls"] = sorted(n for n, c in watched.items() if aiogram_lean.model_is_built(c))
    out["aiohttp_after_calls"] = aiogram_lean.aiohttp_loaded()
    out["loaded_after_calls"] = loaded()
    # What the lean import left out is still there on first use.
    import aiogram
    from aiogram import Dispatcher, F
    from aiogram.types.base import UNSET

    out["lazy_names"] = [type(F).__name__, Dispatcher.__name__, aiogram.flags.__class__.__name__,
                         F is aiogram.F, repr(UNSET), type(UNSET).__module__,
                         aiogram.html.quote("<b>&</b>"), "html" in sys.modules]
    return out


if __name__ == "__main__":
    print(json.dumps(asyncio.run(probe(sys.argv[1], sys.argv[2]))))
