"""The tool audit log as an append-only JSON Lines file (`<state>/audit/tools.jsonl`)."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import IO

import msgspec

from rustyclaw.domain.audit import AuditRecord

log = logging.getLogger("rustyclaw.audit")


class JsonlAuditLog:
    """Appends one line per record; the file is opened on first use and created 0600.

    Lines are written whole with one write each (O_APPEND), so concurrent gateways sharing a state
    folder interleave lines, never halves of them. A write failure is logged, never raised.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle: IO[bytes] | None = None
        self._encoder = msgspec.json.Encoder()

    @classmethod
    def in_state_dir(cls, state_dir: Path) -> JsonlAuditLog:
        return cls(state_dir / "audit" / "tools.jsonl")

    def _open(self) -> IO[bytes]:
        if self._handle is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            self._handle = os.fdopen(fd, "ab", buffering=0)
        return self._handle

    async def record(self, entry: AuditRecord) -> None:
        try:
            self._open().write(self._encoder.encode(entry) + b"\n")
        except OSError as exc:
            log.error("audit log %s not written: %s", self.path, exc)

    async def aclose(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def read_audit(path: Path) -> list[AuditRecord]:
    """Every record in an audit file, for tests and a future `rustyclaw audit` command."""
    decoder = msgspec.json.Decoder(AuditRecord)
    with open(path, "rb") as handle:
        return [decoder.decode(line) for line in handle if line.strip()]
