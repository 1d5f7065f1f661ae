"""`rustyclaw pairing list [channel]` and `rustyclaw pairing approve <channel> <code>`.

Works on the pairing files under the state folder while the gateway runs: both sides take the
same file lock, and the gateway sees an approval at the sender's next message. With
`storage.backend: postgres` the pairing state is in the database (every replica's), and so is
what this command reads and approves.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:  # the parser is built on every CLI start; the rest loads only for `pairing`
    from rustyclaw.config.schema import StorageConfig
    from rustyclaw.domain.pairing import PairingService


def default_state_dir() -> Path:
    from rustyclaw.config.base import rustyclaw_home

    home: Path = rustyclaw_home()
    return home


def add_pairing_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """Adds the `pairing` command to the CLI's subparsers (the lead may wire it by hand instead)."""
    pairing = sub.add_parser("pairing", help="list or approve pairing codes of unknown senders")
    actions = pairing.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="pending pairing codes (of one channel or all)")
    listing.add_argument("channel", nargs="?", help="channel name, e.g. telegram")
    approve = actions.add_parser("approve", help="approve a sender by the code they were given")
    approve.add_argument("channel", help="channel name, e.g. telegram")
    approve.add_argument("code", help="the 8-character pairing code")
    for p in (listing, approve):
        p.add_argument("--config", metavar="PATH", help="configuration file (YAML, JSON or TOML)")
        p.add_argument("--state-dir", metavar="PATH", help="state folder (default: ~/.rustyclaw)")
    return pairing


def run_pairing(
    args: argparse.Namespace, state_dir: Path | None = None, out: TextIO | None = None,
    storage: StorageConfig | None = None,
) -> int:
    """Runs `pairing list|approve`; returns the exit code (1 for an unknown or expired code).

    The state folder is `state_dir` if given (the caller resolved it from the config), else
    `--state-dir`, else the RustyClaw home (`RUSTYCLAW_HOME` or ~/.rustyclaw). `storage` is the
    config's storage section: on PostgreSQL the pairing state is read and approved there.
    """
    stream = out or sys.stdout
    folder = state_dir or (Path(args.state_dir) if getattr(args, "state_dir", None) else default_state_dir())
    if args.action not in ("list", "approve"):
        raise ValueError(f"unknown pairing action {args.action!r}")
    import anyio

    from rustyclaw.adapters.clock import SystemClock
    from rustyclaw.adapters.storage.factory import open_shared_state
    from rustyclaw.config.schema import StorageConfig
    from rustyclaw.domain.pairing import PairingService

    clock = SystemClock()
    # The same choice the gateway makes (adapters/storage/shared_state.py), so both see one state.
    shared = open_shared_state(storage or StorageConfig(), folder, clock)

    async def run() -> int:
        await shared.start()
        try:
            service = PairingService(shared.pairing, clock)
            if args.action == "list":
                return await _list(service, getattr(args, "channel", None), stream)
            return await _approve(service, args.channel, args.code, stream)
        finally:
            await shared.aclose()

    return anyio.run(run)


async def _list(service: PairingService, channel: str | None, out: TextIO) -> int:
    channels = [channel] if channel else await service.store.channels()
    rows = []
    for name in channels:
        for request in await service.pending(name):
            rows.append((name, request))
    if not rows:
        print("No pending pairing requests." if not channel else f"No pending pairing requests on {channel}.",
              file=out)
        return 0
    print(f"{'CHANNEL':<12} {'CODE':<9} {'SENDER':<24} {'NAME':<20} AGE", file=out)
    now = time.time()
    for name, r in rows:
        age = int(now - r.created_at) // 60
        print(f"{name:<12} {r.code:<9} {r.sender_id:<24} {r.sender_name[:20]:<20} {age} min", file=out)
    return 0


async def _approve(service: PairingService, channel: str, code: str, out: TextIO) -> int:
    request = await service.approve(channel, code)
    if request is None:
        print(f"No pending pairing code {code.strip().upper()} on {channel} (unknown or expired; "
              f"see: rustyclaw pairing list {channel}).", file=sys.stderr)
        return 1
    who = f"{request.sender_id}" + (f" ({request.sender_name})" if request.sender_name else "")
    print(f"Approved {who} on {channel}.", file=out)
    return 0
