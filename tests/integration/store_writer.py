"""A writer process for the crash tests: appends messages to one session in a loop and prints
`ack <id>` for each message once `append_messages` has returned (nothing is acknowledged before
the store says it is durable). Run: python -m tests.integration.store_writer BACKEND LOCATION [KEY [PREFIX [LIMIT]]]
(PREFIX starts every message and inbound id, so two writers can share a session; after LIMIT
messages the writer exits on its own)

BACKEND is sqlite (LOCATION: the database file), json-<policy> (LOCATION: the folder) or
postgres (LOCATION: a DSN).
"""

from __future__ import annotations

import sys
import time

import anyio

from rustyclaw.domain.messages import ChatMessage, SessionEntry
from rustyclaw.ports.storage import StorageBackend


def make_store(backend: str, location: str) -> StorageBackend:
    if backend == "sqlite":
        from rustyclaw.adapters.storage.sqlite import SQLiteStore

        return SQLiteStore(location)
    if backend.startswith("json-"):
        from rustyclaw.adapters.storage.jsonfile import JsonFileStore

        return JsonFileStore(location, fsync=backend.removeprefix("json-"))
    if backend == "postgres":
        from rustyclaw.adapters.storage.postgres import PostgresStore

        return PostgresStore(location, min_size=1, max_size=2)
    raise SystemExit(f"unknown backend {backend!r}")


async def main(backend: str, location: str, key: str, prefix: str = "m", limit: int = 0) -> None:
    store = make_store(backend, location)
    await store.start()
    entry = SessionEntry(key=key, session_id=f"crash-{key.rsplit(':', 1)[-1]}", created_at=time.time())
    await store.put_session(entry)
    print("ready", flush=True)
    n = 0
    while True:
        # Batches of 1-4 messages, some large, so a kill can land inside a multi-line write.
        size = n % 4 + 1
        batch = [
            ChatMessage(
                role="user" if (n + i) % 2 == 0 else "assistant",
                content=f"message {n + i} " + ("x" * 5000 if (n + i) % 7 == 0 else ""),
                id=f"{prefix}{n + i:06d}",
                inbound_id=f"{prefix}-in-{n + i}" if (n + i) % 2 == 0 else None,
                tokens=n + i,
                created_at=time.time(),
            )
            for i in range(size)
        ]
        stored = await store.append_messages(entry, batch)
        sys.stdout.write("".join(f"ack {m.id}\n" for m in stored))
        sys.stdout.flush()
        n += size
        if limit and n >= limit:
            return


if __name__ == "__main__":
    args = sys.argv[1:]
    anyio.run(
        main,
        args[0],
        args[1],
        args[2] if len(args) > 2 else "agent:main:crash:direct:1",
        args[3] if len(args) > 3 else "m",
        int(args[4]) if len(args) > 4 else 0,
    )
