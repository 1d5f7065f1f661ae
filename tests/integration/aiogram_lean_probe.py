"""Run in a fresh interpreter by test_aiogram_lean.py: the lean aiogram against the Bot API emulator.

    python -m tests.integration.aiogram_lean_probe <emulator base url> <bot token>

Prints one JSON object: what the import left unbuilt, and what real calls through aiogram's Bot
(on the httpx session) returned after the lean import.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import httpx


async def probe(base_url: str, token: str) -> dict[str, Any]:
    from rustyclaw.adapters.channels import aiogram_lean  # noqa: I001  (the lean import must come first)
    from rustyclaw.adapters.channels.aiogram_httpx import HttpxSession

    from aiogram import Bot, methods, types
    from aiogram.client.telegram import TelegramAPIServer

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
    }
    bot = Bot(token, session=HttpxSession(api=TelegramAPIServer.from_base(base_url)))
    try:
        me = await bot.get_me()
        out["me"] = {"id": me.id, "username": me.username, "is_bot": me.is_bot}
        await bot.delete_webhook()
        async with httpx.AsyncClient(base_url=base_url) as client:
            await client.post("/sendMessage", json={
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
    return out


if __name__ == "__main__":
    print(json.dumps(asyncio.run(probe(sys.argv[1], sys.argv[2]))))
