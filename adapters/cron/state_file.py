"""Job states in one JSON file (`<state>/cron/jobs.json`), replaced atomically on every save."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import anyio
import msgspec

from rustyclaw.domain.errors import StorageError
from rustyclaw.ports.schedule_store import JobState

log = logging.getLogger("rustyclaw.cron")

_decoder = msgspec.json.Decoder(dict[str, JobState])


class JsonScheduleStore:
    """A ScheduleStore in a JSON file; a damaged file is kept aside as `<name>.corrupt` and ignored."""

    def __init__(self, path: Path) -> None:
        self.path = path

    async def load(self) -> dict[str, JobState]:
        return await anyio.to_thread.run_sync(self._load)

    async def save(self, states: dict[str, JobState]) -> None:
        await anyio.to_thread.run_sync(self._save, states)

    def _load(self) -> dict[str, JobState]:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise StorageError(f"cannot read {self.path}: {exc}") from exc
        try:
            return _decoder.decode(raw)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            aside = self.path.with_name(self.path.name + ".corrupt")
            log.error("cron state %s is damaged (%s); kept as %s, starting afresh", self.path, exc, aside)
            os.replace(self.path, aside)
            return {}

    def _save(self, states: dict[str, JobState]) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(self.path.name + ".tmp")
            with open(tmp, "wb") as fh:
                fh.write(msgspec.json.format(msgspec.json.encode(states), indent=2))
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except OSError as exc:
            raise StorageError(f"cannot write {self.path}: {exc}") from exc


class MemoryScheduleStore:
    """A ScheduleStore in memory (tests, demos); share one to 'restart' with the same state."""

    def __init__(self) -> None:
        self.states: dict[str, bytes] = {}

    async def load(self) -> dict[str, JobState]:
        return {k: msgspec.json.decode(v, type=JobState) for k, v in self.states.items()}

    async def save(self, states: dict[str, JobState]) -> None:
        self.states = {k: msgspec.json.encode(v) for k, v in states.items()}
