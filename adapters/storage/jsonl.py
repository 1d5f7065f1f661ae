"""One OpenClaw transcript file (`<sessionId>.jsonl`): scanning, damage handling, durable appends.

Functions here are blocking and run in a worker thread, always under the transcript's flock and
the store's in-process lock for that file.

Damage rule (nothing accepted is dropped):
- An unterminated last line that is not valid JSON is an interrupted write. Every write we
  acknowledge ends with a newline, so such bytes were never acknowledged: they are appended to
  `<file>.damaged`, cut from the transcript, and reported (a logged warning and a
  `DamageReport`). An unterminated last line that *is* valid JSON is kept and given its newline.
- Any other line that does not parse may be an accepted message: the file is left untouched and
  CorruptDataError names the file and line, so a person can look before anything is lost.
- Entry types we do not understand stay in the file and are skipped for the conversation.
"""

from __future__ import annotations

import errno
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import msgspec

from rustyclaw.adapters.storage import openclaw_format as fmt
from rustyclaw.adapters.storage.rules import prepare_batch
from rustyclaw.domain.errors import CorruptDataError, StorageError, StorageUnavailableError
from rustyclaw.domain.messages import ChatMessage

log = logging.getLogger("rustyclaw.storage.json")

FsyncPolicy = Literal["always", "batch", "never"]
FSYNC_POLICIES: tuple[str, ...] = ("always", "batch", "never")

_decoder = msgspec.json.Decoder()
_encoder = msgspec.json.Encoder()
_UNAVAILABLE_ERRNOS = {errno.ENOSPC, errno.EACCES, errno.EPERM, errno.EROFS, errno.EDQUOT, errno.EIO}


@dataclass(frozen=True, slots=True)
class DamageReport:
    """An interrupted write found at the end of a transcript and moved to `kept_in`."""

    path: Path
    offset: int
    size: int
    kept_in: Path


@dataclass(slots=True)
class TranscriptState:
    """What appends need to know about a transcript, kept between calls and refreshed from the
    file whenever another process may have written to it (size or inode changed)."""

    ino: int = -1
    end: int = 0
    lines: int = 0
    last_id: str | None = None
    inbound: set[str] = field(default_factory=set)
    # The bytes just before `end`: if they changed, another writer (OpenClaw rewrites transcripts
    # in place, same inode) replaced what we had read, and the file is read again from the start.
    tail: bytes = b""


# Long enough that a rewrite is all but certain to change it, short enough to cost one small read.
_TAIL_BYTES = 64


def _rewritten(fd: int, state: TranscriptState) -> bool:
    if not state.tail:
        return False
    start = state.end - len(state.tail)
    return start < 0 or os.pread(fd, len(state.tail), start) != state.tail


@dataclass(slots=True)
class _Scan:
    entries: list[dict[str, Any]]
    end: int
    lines: int
    torn: bytes = b""
    needs_newline: bool = False


def translate_os_error(exc: OSError, action: str, where: object) -> StorageError:
    message = f"cannot {action} {where}: {exc.strerror or exc}"
    if exc.errno in _UNAVAILABLE_ERRNOS:
        return StorageUnavailableError(message)
    return StorageError(message)


def _scan(data: bytes, offset: int, first_line: int, where: Path) -> _Scan:
    pieces = data.split(b"\n")
    tail = pieces.pop()
    entries: list[dict[str, Any]] = []
    for number, line in enumerate(pieces, start=first_line):
        if not line.strip():
            continue
        entries.append(_entry(line, number, where))
    scan = _Scan(entries, offset + len(data) - len(tail), first_line + len(pieces))
    if tail.strip(b" \t\r\0"):
        try:
            entries.append(_entry(tail, scan.lines, where))
        except CorruptDataError:
            scan.torn = tail
        else:
            scan.needs_newline = True
            scan.end += len(tail)
    elif tail:
        scan.torn = tail
    return scan


def _entry(line: bytes, number: int, where: Path) -> dict[str, Any]:
    try:
        value = _decoder.decode(line)
    except msgspec.DecodeError as exc:
        raise CorruptDataError(
            f"transcript {where} line {number} is not valid JSON ({exc}); the file was left as it is: "
            "fix or remove that line (/new starts a fresh transcript meanwhile)"
        ) from exc
    if not isinstance(value, dict):
        raise CorruptDataError(f"transcript {where} line {number} is not a JSON object; the file was left as it is")
    return value


def refresh(
    fd: int, path: Path, state: TranscriptState, repair: bool = True
) -> tuple[list[dict[str, Any]], DamageReport | None]:
    """Bring `state` up to date with the file; return the entries it had not seen yet.

    A changed inode or a shrunken file (another process reset or repaired it) means a full
    re-read; a grown file means reading only the new bytes. Must hold the file's flock.
    Without `repair` (a read-only store) an interrupted write is reported but left in place.
    """
    info = os.fstat(fd)
    if info.st_ino != state.ino or info.st_size < state.end or _rewritten(fd, state):
        state.ino, state.end, state.lines, state.last_id = info.st_ino, 0, 1, None
        state.inbound, state.tail = set(), b""
    if info.st_size == state.end:
        return [], None
    data = os.pread(fd, info.st_size - state.end, state.end)
    scan = _scan(data, state.end, state.lines, path)
    damage = None
    if scan.torn and not repair:
        damage = DamageReport(path, scan.end, len(scan.torn), path)
        log.warning(
            "transcript %s ends in an interrupted write (%d bytes at offset %d); left in place (read-only)",
            path,
            len(scan.torn),
            scan.end,
        )
    elif scan.torn:
        damage = _keep_aside(fd, path, scan.end, scan.torn)
    elif scan.needs_newline and repair:
        _write_all(fd, b"\n")
        scan.end += 1
    state.end, state.lines = scan.end, scan.lines
    size = min(_TAIL_BYTES, state.end)
    state.tail = os.pread(fd, size, state.end - size) if size else b""
    for entry in scan.entries:
        if entry.get("type") != "session" and isinstance(entry.get("id"), str):
            state.last_id = entry["id"]
        inbound = fmt.inbound_of(entry)
        if inbound is not None:
            state.inbound.add(inbound)
    return scan.entries, damage


def _keep_aside(fd: int, path: Path, offset: int, torn: bytes) -> DamageReport:
    kept_in = path.with_name(path.name + ".damaged")
    note = _encoder.encode(
        {"file": path.name, "offset": offset, "size": len(torn), "movedAt": fmt.iso_time(time.time())}
    )
    with open(kept_in, "ab") as aside:
        aside.write(note + b"\n" + torn + b"\n")
        aside.flush()
        os.fsync(aside.fileno())
    os.ftruncate(fd, offset)
    os.fsync(fd)
    report = DamageReport(path, offset, len(torn), kept_in)
    log.warning(
        "transcript %s ended in an interrupted write (%d bytes at offset %d, never acknowledged); moved it to %s",
        path,
        len(torn),
        offset,
        kept_in,
    )
    return report


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def read_all(
    fd: int, path: Path, state: TranscriptState, repair: bool = True
) -> tuple[list[dict[str, Any]], DamageReport | None]:
    """Every entry of the file (the state is rebuilt from scratch on the way)."""
    state.ino = -1
    return refresh(fd, path, state, repair)


def append(
    fd: int,
    path: Path,
    state: TranscriptState,
    messages: Sequence[ChatMessage],
    header: dict[str, Any],
    policy: FsyncPolicy,
) -> tuple[list[ChatMessage], DamageReport | None, bool]:
    """Append `messages` (de-duplicated by inbound id against the file); return what was stored,
    any damage repaired first, and whether the file was new (its folder then needs an fsync).

    Durability by policy: `always` writes and fdatasyncs each message line on its own; `batch`
    writes the whole call in one write and fdatasyncs once before returning; `never` leaves the
    lines in the OS page cache (they survive the process dying, not the machine).
    """
    _, damage = refresh(fd, path, state)
    batch = prepare_batch(messages, state.inbound)
    if not batch:
        return [], damage, False
    created = state.end == 0
    lines: list[bytes] = []
    if created:
        lines.append(_encoder.encode(header) + b"\n")
    parent = state.last_id
    for message in batch:
        lines.append(_encoder.encode(fmt.transcript_entry(message, parent)) + b"\n")
        parent = message.id
    start = state.end
    try:
        if policy == "always":
            for line in lines:
                _write_all(fd, line)
                os.fdatasync(fd)
        else:
            _write_all(fd, b"".join(lines))
            if policy == "batch":
                os.fdatasync(fd)
    except OSError:
        # Cut a partial batch so that the file never holds half a line we did not acknowledge.
        try:
            os.ftruncate(fd, start)
        except OSError:
            log.exception("could not cut a failed append from %s", path)
        raise
    state.end = start + sum(len(line) for line in lines)
    state.tail = (state.tail + b"".join(lines))[-_TAIL_BYTES:]
    state.lines += len(lines)
    state.last_id = parent
    state.inbound.update(m.inbound_id for m in batch if m.inbound_id is not None)
    return batch, damage, created


def messages_of(entries: Sequence[dict[str, Any]], path: Path) -> list[ChatMessage]:
    """The conversation: the branch ending at the newest entry, in order, unknown types skipped.

    Our files are a single chain; OpenClaw's may branch (parentId trees), and its current
    conversation is the path from the last entry back to the root. If the links are broken
    (an entry points at an id that is not in the file) the file order is used instead.
    """
    body = [e for e in entries if e.get("type") != "session"]
    chain = _current_branch(body)
    out: list[ChatMessage] = []
    for number, entry in enumerate(chain):
        try:
            message = fmt.chat_message(entry)
        except (fmt.FormatError, TypeError, ValueError) as exc:
            raise CorruptDataError(
                f"transcript {path}: entry {number} ({entry.get('id')!r}) is malformed: {exc}"
            ) from exc
        if message is not None:
            out.append(message)
    return out


def _current_branch(body: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if not body:
        return body
    by_id: dict[str, dict[str, Any]] = {}
    linear = True
    previous: str | None = None
    for entry in body:
        entry_id = entry.get("id")
        if isinstance(entry_id, str):
            by_id[entry_id] = entry
        if entry.get("parentId") != previous:
            linear = False
        previous = entry_id if isinstance(entry_id, str) else previous
    if linear:
        return body
    path: list[dict[str, Any]] = []
    node: dict[str, Any] | None = body[-1]
    seen: set[int] = set()
    while node is not None:
        if id(node) in seen:
            return body
        seen.add(id(node))
        path.append(node)
        parent = node.get("parentId")
        if parent is None:
            break
        node = by_id.get(parent) if isinstance(parent, str) else None
        if node is None:
            return body
    path.reverse()
    return path


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(path: Path, data: bytes, durable: bool) -> None:
    """Replace `path` with `data`: write a temporary file beside it, fsync, rename, fsync the folder."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{time.monotonic_ns()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            _write_all(fd, data)
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if durable:
        fsync_dir(path.parent)
