"""`rustyclaw sessions list|show|reset`: reads the configured store directly."""

from __future__ import annotations

import argparse
import time
import uuid

import anyio

from rustyclaw.domain.errors import RustyClawError
from rustyclaw.domain.messages import ChatMessage
from rustyclaw.ports.storage import StorageBackend
from rustyclaw.settings import load_settings


def _when(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts)) if ts else "-"


async def _run(args: argparse.Namespace, store: StorageBackend) -> int:
    if args.action == "list" and getattr(args, "archived", False):
        archived = await store.list_archived(args.agent)
        if not archived:
            print("no archived transcripts")
        for record in archived:
            count = len(await store.load_archived(record))
            print(
                f"{record.session_key}\t{record.session_id}\tarchived {_when(record.archived_at)}\t{count} messages"
            )
        return 0
    if args.action == "show" and getattr(args, "archived", False):
        return await _show_with_archives(store, args.key)
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
    _print_messages(await store.load_messages(entry))
    return 0


def _print_messages(messages: list[ChatMessage]) -> None:
    for message in messages:
        label = message.role if not message.tool_calls else "assistant (tool calls)"
        body = message.content or ", ".join(f"{c.name}({c.arguments})" for c in message.tool_calls)
        print(f"[{_when(message.created_at)}] {label}: {body}")


async def _show_with_archives(store: StorageBackend, key: str) -> int:
    """The key's archived transcripts (oldest first), then its live one if it still has one
    (a deleted session has only archives)."""
    archived = [a for a in await store.list_archived() if a.session_key == key]
    entry = await store.get_session(key)
    if entry is None and not archived:
        raise RustyClawError(
            f"no session or archived transcript with key {key!r} (see: rustyclaw sessions list --archived)"
        )
    for record in archived:
        print(f"# {key} ({record.session_id}), archived {_when(record.archived_at)}")
        _print_messages(await store.load_archived(record))
    if entry is not None:
        print(f"# {entry.key} ({entry.session_id}), live, updated {_when(entry.updated_at)}")
        _print_messages(await store.load_messages(entry))
    return 0


def run_sessions(args: argparse.Namespace) -> int:
    from rustyclaw.app import bootstrap

    root = bootstrap(load_settings(args.config), "store")

    async def run() -> int:
        async with root:
            return await _run(args, root.store)

    return anyio.run(run)
