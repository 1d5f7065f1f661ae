"""`rustyclaw sessions list|show|reset`: reads the configured store directly."""

from __future__ import annotations

import argparse
import time
import uuid
from pathlib import Path

import anyio

from rustyclaw.adapters.storage.factory import open_store
from rustyclaw.config.loader import load_config
from rustyclaw.domain.errors import RustyClawError
from rustyclaw.ports.storage import SessionStore


def _when(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts)) if ts else "-"


async def _run(args: argparse.Namespace, store: SessionStore) -> int:
    await store.start()
    try:
        if args.action == "list":
            entries = await store.list_sessions(args.agent)
            if not entries:
                print("no sessions")
            for e in sorted(entries, key=lambda e: e.updated_at, reverse=True):
                print(f"{e.key}\t{e.session_id}\t{_when(e.updated_at)}\t{e.total_tokens} tokens")
            return 0
        entry = await store.get_session(args.key)
        if entry is None:
            raise RustyClawError(f"no session with key {args.key!r} (see: rustyclaw sessions list)")
        if args.action == "reset":
            new = await store.reset_session(args.key, str(uuid.uuid4()), time.time())
            print(f"{args.key}: archived {entry.session_id}, now {new.session_id}")
            return 0
        print(f"# {entry.key} ({entry.session_id}), updated {_when(entry.updated_at)}")
        for message in await store.load_messages(entry):
            label = message.role if not message.tool_calls else "assistant (tool calls)"
            body = message.content or ", ".join(f"{c.name}({c.arguments})" for c in message.tool_calls)
            print(f"[{_when(message.created_at)}] {label}: {body}")
        return 0
    finally:
        await store.aclose()


def run_sessions(args: argparse.Namespace) -> int:
    cfg = load_config(args.config).config
    store = open_store(cfg.storage, Path(cfg.gateway.state_dir).expanduser())
    return anyio.run(_run, args, store)
