"""The `rustyclaw` command. Subcommands import what they need when they run, so `--help` is instant."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from typing import Any

from rustyclaw import __version__


def _parser(command_modules: bool = True) -> argparse.ArgumentParser:
    """The whole parser; without `command_modules` only the commands defined here (see main)."""
    parser = argparse.ArgumentParser(prog="rustyclaw", description="A light, local-first AI assistant gateway.")
    parser.add_argument("--version", action="version", version=f"rustyclaw {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_config(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--config", metavar="PATH", help="configuration file (YAML, JSON or TOML)")
        return p

    serve = with_config(sub.add_parser("serve", help="run the gateway"))
    serve.add_argument("--host", help="bind address (default from gateway.host: 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default from gateway.port: 18789)")

    chat = with_config(sub.add_parser("chat", help="chat with the assistant in this terminal"))
    chat.add_argument("--session", default="main", help="session name (default: the main session)")

    config = sub.add_parser("config", help="check or print the configuration")
    config_sub = config.add_subparsers(dest="action", required=True, metavar="ACTION")
    with_config(config_sub.add_parser("validate", help="load the configuration and report problems"))
    show = with_config(config_sub.add_parser("show", help="print the effective configuration, secrets hidden"))
    show.add_argument("--format", choices=["yaml", "json"], default="yaml")

    sessions = sub.add_parser("sessions", help="list, show or reset sessions")
    sessions_sub = sessions.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = with_config(sessions_sub.add_parser("list", help="list sessions"))
    listing.add_argument("--agent", help="only this agent's sessions")
    listing.add_argument("--archived", action="store_true", help="list archived transcripts (resets, deleted sessions)")
    show_s = with_config(sessions_sub.add_parser("show", help="print a session's transcript"))
    show_s.add_argument("key", help="session key, e.g. agent:main:main")
    show_s.add_argument("--archived", action="store_true", help="also print the key's archived transcripts")
    reset = with_config(sessions_sub.add_parser("reset", help="start a session afresh (the old one is archived)"))
    reset.add_argument("key")

    storage = sub.add_parser("storage", help="move history between storage backends")
    storage_sub = storage.add_subparsers(dest="action", required=True, metavar="ACTION")
    copy = with_config(storage_sub.add_parser("copy", help="copy every session from one backend to another"))
    copy.add_argument("--from", dest="source", required=True, choices=["sqlite", "json", "postgres"])
    copy.add_argument("--to", dest="target", required=True, choices=["sqlite", "json", "postgres"])
    imp = with_config(storage_sub.add_parser("import-openclaw", help="import an OpenClaw state folder"))
    imp.add_argument("path", nargs="?", default="~/.openclaw", help="OpenClaw state folder (default ~/.openclaw)")
    imp.add_argument("--to", dest="target", choices=["sqlite", "json", "postgres"],
                     help="backend to import into (default: storage.backend)")
    if command_modules:
        for entry in COMMANDS:
            _load(entry)(sub)
    return parser


# Commands in their own modules, one line each: "module:function", where the function adds the
# subparser and sets `handler="module:function"` (that function takes the parsed args and returns
# the exit code), e.g. `p.set_defaults(handler="rustyclaw.cli_status:run_status")`. Keep the
# modules light at import: the parser is built on every start.
COMMANDS = [
    "rustyclaw.cli_pairing:add_pairing_parser",
    "rustyclaw.cli_plugins:add_plugins_parser",
    "rustyclaw.cli_sandbox:add_sandbox_parser",
    "rustyclaw.cli_status:add_status_parser",
    "rustyclaw.cli_migrate:add_migrate_parser",
    "rustyclaw.cli_mcp:add_mcp_parser",
    "rustyclaw.cli_skills:add_skills_parser",
    "rustyclaw.cli_onboard:add_onboard_parser",
    "rustyclaw.cli_doctor:add_doctor_parser",
    "rustyclaw.cli_agents:add_agents_parser",
    "rustyclaw.cli_cron:add_cron_parser",
]


def _load(entry: str) -> Callable[..., Any]:
    module, _, name = entry.partition(":")
    found: Callable[..., Any] = getattr(importlib.import_module(module), name)
    return found


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    # `serve` is defined in _parser itself: its start (start to ready, issue #19) skips importing
    # the other commands' modules (~10 ms), which only add their subparsers.
    args = _parser(command_modules=words[:1] != ["serve"]).parse_args(words)
    from rustyclaw.domain.errors import RustyClawError

    try:
        handler = getattr(args, "handler", None)
        if handler is not None:
            code: int = _load(handler)(args)
            return code
        if args.command == "serve":
            from rustyclaw.cli_serve import run_serve

            return run_serve(args.config, args.host, args.port)
        if args.command == "chat":
            from rustyclaw.cli_chat import run_chat

            return run_chat(args.config, args.session)
        if args.command == "config":
            from rustyclaw.cli_config import run_config

            return run_config(args)
        if args.command == "sessions":
            from rustyclaw.cli_sessions import run_sessions

            return run_sessions(args)
        if args.command == "pairing":
            from rustyclaw.cli_pairing import run_pairing

            if getattr(args, "state_dir", None):  # the pairing command's own --state-dir wins
                return run_pairing(args)
            from rustyclaw.settings import load_settings

            settings = load_settings(getattr(args, "config", None))
            return run_pairing(args, state_dir=settings.state_dir, storage=settings.config.storage)
        if args.command == "plugins":
            from rustyclaw.cli_plugins import run_plugins

            return run_plugins(args)
        if args.command == "sandbox":
            from rustyclaw.cli_sandbox import run_sandbox

            return run_sandbox(args)
        if args.command == "storage":
            from rustyclaw.cli_storage import run_storage

            return run_storage(args)
    except RustyClawError as exc:
        print(f"rustyclaw: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
