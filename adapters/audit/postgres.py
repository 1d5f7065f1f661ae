"""The tool audit log in PostgreSQL (table `audit_log` of migration 003): every replica on the
database appends to one log, in one order (`seq`)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from rustyclaw.adapters.storage.pg_pool import PgPool
from rustyclaw.domain.audit import AuditRecord
from rustyclaw.domain.errors import RustyClawError
from rustyclaw.ports.audit import AuditSink

log = logging.getLogger("rustyclaw.audit")

_FIELDS = ("time", "agent", "session", "sender", "channel", "tool", "arguments", "verdict", "rule", "status")
# The record's `time` is the column `at`: `time` also names an SQL type, which reads badly in queries.
_COLUMNS = ", ".join("at" if field == "time" else field for field in _FIELDS)
_INSERT = f"INSERT INTO audit_log ({_COLUMNS}) VALUES ({', '.join('%s' for _ in _FIELDS)})"
_RECENT = f"SELECT {_COLUMNS} FROM (SELECT * FROM audit_log ORDER BY seq DESC LIMIT %s) AS newest ORDER BY seq"


class PostgresAuditLog:
    """An AuditSink over the shared pool; the pool's owner closes it, so `aclose()` only stops writes."""

    def __init__(self, pool: PgPool) -> None:
        self._pool = pool
        self._closed = False

    async def record(self, entry: AuditRecord) -> None:
        if self._closed:
            log.error("audit record for tool %s dropped: the audit log is closed", entry.tool)
            return
        try:
            await self._pool.execute("write the audit log in", _INSERT, tuple(getattr(entry, f) for f in _FIELDS))
        except RustyClawError as exc:  # the port's rule: a failing log never stops a turn
            log.error("audit log not written: %s", exc)

    async def recent(self, limit: int = 200) -> list[AuditRecord]:
        """The newest `limit` records, oldest first (the control UI's audit view)."""
        rows = await self._pool.fetch("read the audit log in", _RECENT, (limit,))
        return [AuditRecord(**dict(zip(_FIELDS, row, strict=True))) for row in rows]

    async def aclose(self) -> None:
        self._closed = True


if TYPE_CHECKING:
    _conforms: type[AuditSink] = PostgresAuditLog
