"""`rustyclaw migrate openclaw [PATH] [--dry-run] [--force]`: move an OpenClaw installation over."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import anyio


def add_migrate_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    migrate = sub.add_parser("migrate", help="move from another assistant (OpenClaw) in one command")
    what = migrate.add_subparsers(dest="source_kind", required=True, metavar="FROM")
    openclaw = what.add_parser(
        "openclaw",
        help="OpenClaw: openclaw.json, sessions (JSON or SQLite state), workspaces, pairing, cron",
    )
    openclaw.add_argument("path", nargs="?", default="~/.openclaw", help="OpenClaw home (default ~/.openclaw)")
    openclaw.add_argument("--home", help="RustyClaw home to write (default $RUSTYCLAW_HOME or ~/.rustyclaw)")
    openclaw.add_argument("--dry-run", action="store_true", help="print the plan and the report; write nothing")
    openclaw.add_argument("--force", action="store_true", help="replace a config.yaml this command did not write")
    migrate.set_defaults(handler="rustyclaw.cli_migrate:run_migrate")
    return migrate


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def run_migrate(args: argparse.Namespace) -> int:
    from rustyclaw.adapters.openclaw.migrate import describe, plan_migration, run_migration
    from rustyclaw.cli_storage import ProgressBar
    from rustyclaw.config.base import rustyclaw_home

    environ = dict(os.environ)
    home = Path(args.home).expanduser() if args.home else rustyclaw_home(environ)
    source = Path(args.path).expanduser()
    plan = plan_migration(source, home, environ)
    print(describe(plan, dry_run=args.dry_run))
    if args.dry_run:
        return 0
    result = anyio.run(
        lambda: run_migration(plan, environ, _say, progress=ProgressBar("openclaw sessions"), force=args.force)
    )
    print(f"config.yaml {result.config}; {result.secrets_written} secrets written to {plan.secrets_path}")
    print(
        f"workspace: {result.workspace_copied} files copied, {result.workspace_unchanged} already there"
        + (f", {len(result.workspace_conflicts)} kept (differ): {', '.join(result.workspace_conflicts)}"
           if result.workspace_conflicts else "")
    )  # fmt: skip
    print(f"pairing: {result.pairing_added} senders added, {result.pairing_total} in the allowlists")
    for note in result.notes:
        print(f"not imported: {note}", file=sys.stderr)
    if result.sessions_summary:
        print(f"sessions, counts verified: {result.sessions_summary}")
    if home != rustyclaw_home(environ):
        # The config's paths are written as ~/.rustyclaw/..., which follows $RUSTYCLAW_HOME.
        print(f"to use it: export RUSTYCLAW_HOME={home}")
    return 0
