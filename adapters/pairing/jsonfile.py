"""Pairing state as JSON files in OpenClaw's layout, safe against a concurrent `pairing approve`.

`<state>/credentials/<channel>-pairing.json`  {"version": 1, "requests": [{"id", "code",
    "createdAt", "lastSeenAt", "meta": {"name", "accountId"}}]}   (times are ISO-8601 UTC)
`<state>/credentials/<channel>-allowFrom.json` {"version": 1, "allowFrom": ["<sender id>", ...]}

Every read-modify-write holds an exclusive `flock` on `<state>/credentials/.pairing.lock`, so the
running gateway and the CLI never lose each other's changes; files are replaced atomically
(write to a temporary file, fsync, rename). The approved set is cached by file mtime, so checking
a known sender costs one stat. A file that does not parse is moved aside (`.corrupt-<time>`) and
treated as empty, with an error logged.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import anyio
import anyio.to_thread

from rustyclaw.domain.errors import InvalidInputError, StorageError
from rustyclaw.ports.pairing import PairingRequest

log = logging.getLogger(__name__)

T = TypeVar("T")
VERSION = 1
_CHANNEL_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _check_channel(channel: str) -> str:
    # The name becomes part of a file name: refuse anything that could leave the folder.
    if not _CHANNEL_NAME.match(channel):
        raise InvalidInputError(f"channel name {channel!r} is not valid (lower-case letters, digits, - _ .)")
    return channel


class JsonFilePairingStore:
    """A PairingStore in `<state_dir>/credentials/`."""

    def __init__(self, state_dir: str | Path) -> None:
        self.folder = Path(state_dir).expanduser() / "credentials"
        self._approved_cache: dict[str, tuple[tuple[int, int], frozenset[str]]] = {}
        self._lock = anyio.Lock()

    def pending_path(self, channel: str) -> Path:
        return self.folder / f"{_check_channel(channel)}-pairing.json"

    def allow_path(self, channel: str) -> Path:
        return self.folder / f"{_check_channel(channel)}-allowFrom.json"

    # -- port ---------------------------------------------------------------------------------
    async def list_pending(self, channel: str) -> list[PairingRequest]:
        path = self.pending_path(channel)
        return await anyio.to_thread.run_sync(lambda: _decode_requests(self._read(path)))

    async def update_pending(self, channel: str, change: Callable[[list[PairingRequest]], T]) -> T:
        path = self.pending_path(channel)

        def work() -> T:
            with self._file_lock():
                requests = _decode_requests(self._read(path))
                result = change(requests)
                self._write(path, {"version": VERSION, "requests": [_encode_request(r) for r in requests]})
                return result

        async with self._lock:
            return await anyio.to_thread.run_sync(work)

    async def approved(self, channel: str) -> frozenset[str]:
        path = self.allow_path(channel)
        try:
            st = path.stat()
            mtime = (st.st_ino, st.st_mtime_ns)
        except FileNotFoundError:
            return frozenset()
        except OSError as exc:
            raise StorageError(f"cannot read {path}: {exc}") from exc
        cached = self._approved_cache.get(channel)
        if cached is not None and cached[0] == mtime:
            return cached[1]
        senders = await anyio.to_thread.run_sync(lambda: _decode_allow(self._read(path)))
        self._approved_cache[channel] = (mtime, senders)
        return senders

    async def add_approved(self, channel: str, sender_id: str) -> None:
        path = self.allow_path(channel)

        def work() -> None:
            with self._file_lock():
                current = _decode_allow(self._read(path))
                if sender_id in current:
                    return
                listed = sorted(current | {sender_id})
                self._write(path, {"version": VERSION, "allowFrom": listed})

        async with self._lock:
            await anyio.to_thread.run_sync(work)

    async def channels(self) -> list[str]:
        def scan() -> list[str]:
            if not self.folder.is_dir():
                return []
            names = set()
            for entry in self.folder.iterdir():
                for suffix in ("-pairing.json", "-allowFrom.json"):
                    if entry.name.endswith(suffix):
                        names.add(entry.name[: -len(suffix)])
            return sorted(n for n in names if _CHANNEL_NAME.match(n))

        return await anyio.to_thread.run_sync(scan)

    # -- files --------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _file_lock(self) -> Iterator[None]:
        try:
            self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(self.folder / ".pairing.lock", os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise StorageError(f"cannot use {self.folder}: {exc}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def _read(self, path: Path) -> dict[str, Any]:
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise StorageError(f"cannot read {path}: {exc}") from exc
        try:
            data = json.loads(raw)
            if not isinstance(data, dict):
                raise ValueError("the top level is not an object")
            return data
        except ValueError as exc:
            aside = path.with_name(f"{path.name}.corrupt-{int(time.time())}")
            log.error("%s does not parse (%s); moved aside to %s", path, exc, aside.name)
            with contextlib.suppress(OSError):
                path.rename(aside)
            return {}

    def _write(self, path: Path, data: dict[str, Any]) -> None:
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            with open(tmp, "w", encoding="utf-8") as fh:
                json.dump(data, fh, indent=2)
                fh.write("\n")
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise StorageError(f"cannot write {path}: {exc}") from exc


def _encode_request(r: PairingRequest) -> dict[str, Any]:
    return {
        "id": r.sender_id,
        "code": r.code,
        "createdAt": _iso(r.created_at),
        "lastSeenAt": _iso(r.last_seen_at),
        "meta": {"name": r.sender_name, "accountId": r.account},
    }


def _decode_requests(data: dict[str, Any]) -> list[PairingRequest]:
    found: list[PairingRequest] = []
    for row in data.get("requests") or []:
        try:
            meta = row.get("meta") or {}
            found.append(PairingRequest(
                sender_id=str(row["id"]), code=str(row["code"]),
                created_at=_epoch(row["createdAt"]),
                last_seen_at=_epoch(row.get("lastSeenAt") or row["createdAt"]),
                sender_name=str(meta.get("name") or ""), account=str(meta.get("accountId") or "default"),
            ))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            log.warning("skipping a malformed pairing request: %r (%s)", row, exc)
    return found


def _decode_allow(data: dict[str, Any]) -> frozenset[str]:
    listed = data.get("allowFrom") or []
    if not isinstance(listed, list):
        return frozenset()
    return frozenset(str(x) for x in listed)
