"""notes: a Python plugin written with the SDK.

- `/note <text>` keeps a note in the plugin's storage; `/notes` lists them; `/notes clear` forgets.
- on_message: a message that is exactly "ping" is answered "pong" without asking the agent;
  any other message goes on unchanged.
- every day at 08:00 (cron) it logs how many notes there are.
"""

from __future__ import annotations

from rustyclaw.plugin_sdk import Host, Message, command, cron, on_message, on_start, reply


@on_start
async def hello(host: Host) -> None:
    await host.log(f"notes plugin started; max notes {host.config['maxNotes']}")


@on_message
async def ping(message: Message, host: Host):  # type: ignore[no-untyped-def]
    if message.text.strip().lower() == "ping":
        return reply("pong")
    return None


@command("note")
async def note(args: str, message: Message, host: Host) -> str:
    if not args:
        return "Usage: /note <text>"
    notes = list(await host.storage.get("notes") or [])
    if len(notes) >= host.config["maxNotes"]:
        return f"You already have {len(notes)} notes; /notes clear to start again."
    notes.append(args)
    await host.storage.set("notes", notes)
    return f"Noted ({len(notes)})."


@command("notes")
async def notes(args: str, message: Message, host: Host) -> str:
    if args == "clear":
        await host.storage.delete("notes")
        return "Notes cleared."
    saved = await host.storage.get("notes") or []
    if not saved:
        return "No notes yet."
    return "\n".join(f"{i}. {text}" for i, text in enumerate(saved, 1))


@cron("0 8 * * *", id="morning")
async def morning(host: Host) -> None:
    saved = await host.storage.get("notes") or []
    await host.log(f"{len(saved)} notes waiting")
