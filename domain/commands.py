"""Slash commands: handled by the gateway itself, never sent to the model."""

from __future__ import annotations

import re
from collections.abc import Callable

import msgspec

from rustyclaw.domain.compaction import CompactionReport
from rustyclaw.domain.messages import SessionEntry

HELP_TEXT = """Commands:
/new or /reset: start a fresh session (the old one is archived)
/status: this session's key, model and token use
/model: show the model; /model <provider/model> to switch this session; /model default to go back
/tts on|off|auto: speak this session's replies as voice notes, never, or as configured
/compact [focus]: summarise older turns now to free context (the full history stays stored)
/stop: stop the answer that is running
/elevated on|off: let this session run tools that need elevation (allowed senders only)
/help: this list"""

# Telegram's /start (sent when a user first opens the bot): a greeting, not a message for the model.
START_TEXT = "Hi! I'm your assistant: just write to me. Send /help to see what else I can do."

# Commands the gateway answers before taking the session's turn lock ("unknown": a /word that is
# no command of ours nor of a plugin, answered with the list instead of being sent to the model).
UNLOCKED = frozenset({"stop", "help", "start", "unknown"})
# What a command name looks like; "/etc/hosts?" or "/ 2" are text, not commands.
_COMMAND_NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")
KNOWN = frozenset({"new", "reset", "status", "model", "stop", "help", "elevated", "tts", "compact", "start"})


class Command(msgspec.Struct, frozen=True):
    name: str
    args: str


def parse_command(text: str, reset_triggers: tuple[str, ...] = ("/new", "/reset")) -> Command | None:
    """`/name args`; `/name@botname` (Telegram groups) is the same command. A name shaped like a
    command that is not one becomes `Command("unknown", name)`: the gateway answers it (plugins see
    messages before this and answer their own commands); anything else goes to the model."""
    stripped = text.strip()
    if not stripped.startswith("/"):
        return None
    head, _, args = stripped.partition(" ")
    name = head[1:].split("@", 1)[0].lower()
    if f"/{name}" in reset_triggers:
        return Command("reset", args.strip())
    if name not in KNOWN:
        return Command("unknown", name) if _COMMAND_NAME.fullmatch(name) else None
    return Command(name, args.strip())


def menu() -> list[tuple[str, str]]:
    """(command, description) for each command in the help text, e.g. for Telegram's setMyCommands."""
    found: list[tuple[str, str]] = []
    for line in HELP_TEXT.splitlines():
        if line.startswith("/"):
            names, _, description = line.partition(": ")
            for name in names.split(" or "):
                found.append((name.split(" ")[0].lstrip("/"), description[:256]))
    return found


def unknown_text(name: str) -> str:
    return f"Unknown command /{name}. {HELP_TEXT}"


def status_text(entry: SessionEntry, model: str, messages: int, context_tokens: int) -> str:
    return (
        f"Session: {entry.key}\n"
        f"Id: {entry.session_id}\n"
        f"Model: {model}\n"
        f"Messages: {messages}\n"
        f"Tokens: {entry.input_tokens} in, {entry.output_tokens} out, "
        f"last prompt {entry.context_tokens} of {context_tokens}\n"
        f"Compactions: {entry.compaction_count}"
    )


def compact_text(report: CompactionReport | None) -> str:
    if report is None:
        return "Nothing to compact yet."
    if not report.compacted:
        return "Nothing to compact yet." if report.reason == "nothing to compact yet" else (
            f"Compaction did not happen: {report.reason}.")
    return (
        f"Compacted {report.messages_summarised} older messages into a summary; context "
        f"{report.tokens_before} -> {report.tokens_after} tokens. The full history stays stored."
    )


def model_command(
    entry: SessionEntry, args: str, current: str, known: list[str], provider_known: Callable[[str], bool]
) -> str:
    """Shows or switches the session's model; changes `entry.model` in place."""
    if not args:
        listing = "\n".join(f"- {m}" for m in known) or "- (none configured)"
        return f"Model: {current}\nConfigured models:\n{listing}"
    if args in ("default", "reset"):
        entry.model = None
        return "Model reset to the configured default."
    if args not in known and not provider_known(args):
        return f"Unknown model '{args}'. Use provider/model with a configured provider, or one of:\n" + (
            "\n".join(f"- {m}" for m in known)
        )
    entry.model = args
    return f"Model for this session: {args}"
