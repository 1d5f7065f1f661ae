"""An Inbox in memory: for tests and demos (nothing survives the process)."""

from __future__ import annotations

import msgspec

from rustyclaw.domain.messages import InboundMessage, OutboundMessage
from rustyclaw.ports.inbox import UNFINISHED, InboxCounts, InboxEntry, State, inbox_key


class MemoryInbox:
    def __init__(self) -> None:
        self.entries: dict[str, InboxEntry] = {}

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        return None

    async def record(self, message: InboundMessage, now: float) -> bool:
        key = inbox_key(message)
        if key in self.entries:
            return False
        self.entries[key] = InboxEntry(key=key, message=message, received_at=now, updated_at=now)
        return True

    async def get(self, key: str) -> InboxEntry | None:
        entry = self.entries.get(key)
        return msgspec.structs.replace(entry) if entry is not None else None

    async def reply_once(self, key: str, reply: OutboundMessage, now: float) -> OutboundMessage | None:
        entry = self.entries.get(key)
        if entry is None:
            return None
        if entry.reply is None:
            entry.state, entry.reply, entry.updated_at = "replied", reply, now
        return entry.reply

    async def replied(self, key: str, reply: OutboundMessage, now: float) -> None:
        entry = self.entries.get(key)
        if entry is not None:
            entry.state, entry.reply, entry.updated_at = "replied", reply, now

    async def finish(
        self, key: str, state: State, now: float, *, error: str | None = None, attempts: int = 0
    ) -> None:
        entry = self.entries.get(key)
        if entry is not None:
            entry.state, entry.error, entry.attempts, entry.updated_at = state, error, attempts, now

    async def unfinished(self, channel: str, account: str) -> list[InboxEntry]:
        found = [e for e in self.entries.values() if e.state in UNFINISHED
                 and e.message.channel == channel and e.message.account == account]
        return [msgspec.structs.replace(e) for e in sorted(found, key=lambda e: e.received_at)]

    async def failures(self, limit: int = 20) -> list[InboxEntry]:
        failed = [e for e in self.entries.values() if e.state == "failed"]
        return sorted(failed, key=lambda e: e.updated_at, reverse=True)[:limit]

    async def counts(self) -> InboxCounts:
        states = [e.state for e in self.entries.values()]
        return InboxCounts(unfinished=sum(s in UNFINISHED for s in states), failed=states.count("failed"),
                           delivered=states.count("delivered"))

    async def prune(self, before: float) -> int:
        old = [k for k, e in self.entries.items() if e.state in ("delivered", "done") and e.updated_at < before]
        for key in old:
            del self.entries[key]
        return len(old)
