"""Where tool policy decisions are recorded (an append-only audit log)."""

from __future__ import annotations

from typing import Protocol

from rustyclaw.domain.audit import AuditRecord


class AuditSink(Protocol):
    """Receives one record per tool call decision. `record` must not raise: a failing log is
    reported by the adapter itself and never stops a turn. `aclose()` is idempotent."""

    async def record(self, entry: AuditRecord) -> None: ...

    async def aclose(self) -> None: ...
