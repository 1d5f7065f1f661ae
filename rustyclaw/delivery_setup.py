"""The inbound journal for `serve` (ports/inbox.py): which adapter, its life, and what it reports.

The journal follows the storage backend: PostgreSQL keeps it in the same database (replicas share
it), every other backend in `<state>/inbox.db`. `delivery.journal: false` turns it off (then a
restart may lose what was in flight, as before). `report()` is the `delivery` part of `/readyz`
and `rustyclaw status`: open entries, failed sends (the latest with their error) and delivered.

The HTTP APIs' `Idempotency-Key` requests use the same journal (adapters/http/idempotency.py); a
web-only gateway has none open, so `http_journal` opens it at the first keyed request instead of
at start (an idle web-only gateway still opens nothing).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import anyio

from rustyclaw.adapters.inbox.sqlite import SqliteInbox
from rustyclaw.config.schema import RustyClawConfig
from rustyclaw.ports.inbox import Inbox

log = logging.getLogger("rustyclaw.delivery")
SHOWN_FAILURES = 5


def build_inbox(cfg: RustyClawConfig, state_dir: Path, *, for_http: bool = False) -> Inbox | None:
    """None when the journal is off or no chat platform is enabled (the web chat needs none: its
    client waits for the answer on its own connection), so an idle web-only gateway opens nothing.
    `for_http`: the journal keyed HTTP requests use, whether or not a platform is enabled."""
    from rustyclaw.security_checks import platform_channels

    if not cfg.delivery.journal or not (for_http or platform_channels(cfg)):
        return None
    if cfg.storage.backend == "postgres":
        from rustyclaw.adapters.inbox.postgres import PostgresInbox

        # Replicas keep running between start-up prunes: the journal, their shared duplicate filter,
        # then also drops answered entries past delivery.keepDays while they run.
        keep = cfg.delivery.keep_days * 86400 if cfg.gateway.replicas.enabled else None
        return PostgresInbox(str(cfg.storage.postgres.dsn), owner=f"{_host()}:{state_dir}", keep_seconds=keep)
    return SqliteInbox.in_state_dir(state_dir)


def _host() -> str:
    import socket

    return socket.gethostname()


class DeliverySetup:
    """Owns the journal of one serve: start (and prune), close, report."""

    def __init__(self, cfg: RustyClawConfig, state_dir: Path) -> None:
        self.inbox = build_inbox(cfg, state_dir)
        self.drain_seconds = cfg.delivery.drain_seconds
        self._keep_seconds = cfg.delivery.keep_days * 86400
        # Web-only: a journal of its own for keyed HTTP requests, opened on first use.
        self._http_inbox = self.inbox or build_inbox(cfg, state_dir, for_http=True)
        self._http_opened = self.inbox is not None
        self._http_opening = anyio.Lock()

    @property
    def journaled_http(self) -> bool:
        return self._http_inbox is not None

    async def http_journal(self) -> Inbox:
        """The journal for `Idempotency-Key` requests, started (and pruned) at the first call."""
        inbox = self._http_inbox
        assert inbox is not None, "http_journal without a journal (see journaled_http)"
        if not self._http_opened:
            async with self._http_opening:
                if not self._http_opened:
                    await inbox.start()
                    await inbox.prune(before=time.time() - self._keep_seconds)
                    self._http_opened = True
        return inbox

    async def start(self) -> None:
        if self.inbox is None:
            return
        await self.inbox.start()
        pruned = await self.inbox.prune(before=time.time() - self._keep_seconds)
        counts = await self.inbox.counts()
        if pruned:
            log.debug("inbound journal: %d answered entries dropped", pruned)
        if counts.unfinished:
            log.info("inbound journal: %d message(s) from before the restart will be answered", counts.unfinished)
        if counts.failed:
            log.warning("inbound journal: %d reply(ies) could not be delivered (see rustyclaw status)", counts.failed)

    async def aclose(self) -> None:
        if self.inbox is not None:
            await self.inbox.aclose()
        elif self._http_inbox is not None and self._http_opened:
            await self._http_inbox.aclose()

    async def report(self, *, details: bool = True) -> dict[str, Any]:
        return await delivery_report(self.inbox, details=details)


async def delivery_report(inbox: Inbox | None, *, details: bool = True) -> dict[str, Any]:
    """`{"journal": bool, "unfinished", "failed", "delivered", "recent_failures": [...]}`; without
    `details` the counts only (who failed and why is for the log and authenticated callers)."""
    if inbox is None:
        return {"journal": False}
    counts = await inbox.counts()
    if not details:
        return {"journal": True, "unfinished": counts.unfinished, "failed": counts.failed,
                "delivered": counts.delivered}
    failures = [
        {"channel": e.message.channel, "peer": e.message.peer_id, "message_id": e.message.message_id,
         "error": e.error, "at": e.updated_at}
        for e in await inbox.failures(SHOWN_FAILURES)
    ]
    return {"journal": True, "unfinished": counts.unfinished, "failed": counts.failed,
            "delivered": counts.delivered, "recent_failures": failures}
