"""Archived transcripts of the JSON store: OpenClaw's `<sessionId>.jsonl.reset.<timestamp>` files
(and `.jsonl.deleted.<timestamp>`, what OpenClaw keeps of a deleted session).

OpenClaw's file name holds the session id and the time of the reset, not the session key. When
this store archives a transcript it first appends a closing entry that records what the name
cannot:

    {"type": "custom", "customType": "rustyclaw.archived", "id": ..., "parentId": <last entry>,
     "timestamp": ..., "data": {"sessionKey", "agentId", "archivedAt", "createdAt"}}

It is a `custom` entry linked to the last one, so OpenClaw's readers keep it out of the
conversation and the current branch stays the same. Files without it (OpenClaw's own archives,
or a transcript too damaged to extend) take the key OpenClaw's run trace records for the session
id (`<sessionId>.trajectory.jsonl`), else `agent:<agentId>:archived:<sessionId>`; the time from
the file name (else the file's mtime) and the start from the header.

Functions here are blocking; the store runs them in a worker thread.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Container, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec

from rustyclaw.adapters.storage import jsonl
from rustyclaw.adapters.storage import openclaw_format as fmt
from rustyclaw.adapters.storage.rules import archived_fallback_key, import_batch, new_message_id
from rustyclaw.domain.errors import CorruptDataError
from rustyclaw.domain.messages import ChatMessage
from rustyclaw.ports.archive import ArchivedTranscript

MARKER_TYPE = "rustyclaw.archived"
# A header or a closing entry longer than this is not one we wrote or know.
_EDGE_BYTES = 64 * 1024
# OpenClaw archives a transcript on reset (`.reset.`) and on `sessions.delete` (`.deleted.`).
_ARCHIVE_NAME = re.compile(
    r"^(?P<sid>[A-Za-z0-9_][A-Za-z0-9_.\-]{0,199})\.jsonl\.(?:reset|deleted)\.(?P<stamp>[^/]+)$"
)
_STAMP = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2})[-:](\d{2})[-:](\d{2})(?:\.(\d{1,9}))?Z$")
_decoder = msgspec.json.Decoder()
_encoder = msgspec.json.Encoder()


def archive_name(session_id: str, now: float) -> str:
    """OpenClaw's name for the transcript of `session_id` archived at `now`."""
    stamp = time.strftime("%Y-%m-%dT%H-%M-%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}Z"
    return f"{session_id}.jsonl.reset.{stamp}"


def stamp_time(stamp: str) -> float | None:
    """Unix seconds of an archive name's timestamp (`2026-01-01T00-00-00.500Z`), None if unreadable."""
    match = _STAMP.match(stamp)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction = match.groups()
    try:
        moment = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), tzinfo=UTC)
    except ValueError:
        return None
    return moment.timestamp() + (int(fraction) / 10 ** len(fraction) if fraction else 0.0)


def marker_entry(
    parent_id: str | None, session_key: str, agent_id: str, archived_at: float, created_at: float
) -> dict[str, Any]:
    return {
        "type": "custom",
        "customType": MARKER_TYPE,
        "id": new_message_id(),
        "parentId": parent_id,
        "timestamp": fmt.iso_time(archived_at),
        "data": {"sessionKey": session_key, "agentId": agent_id, "archivedAt": archived_at, "createdAt": created_at},
    }


def is_marker(entry: Any) -> bool:
    return isinstance(entry, dict) and entry.get("type") == "custom" and entry.get("customType") == MARKER_TYPE


def archive_files(folder: Path) -> list[tuple[str, Path]]:
    """(session id, path) of every archived transcript in an agent's sessions folder, by name."""
    try:
        names = sorted(os.listdir(folder))
    except FileNotFoundError:
        return []
    found: list[tuple[str, Path]] = []
    for name in names:
        match = _ARCHIVE_NAME.match(name)
        # .zst: 2026.7.2+ publishes compressed copies of its SQLite archive rows (read from the DB).
        if match is not None and not name.endswith((".damaged", ".zst")):
            found.append((match["sid"], folder / name))
    return found


@dataclass(frozen=True, slots=True)
class _Edges:
    header: dict[str, Any] | None
    marker: dict[str, Any] | None
    has_body: bool


def _object(line: bytes) -> dict[str, Any] | None:
    try:
        value = _decoder.decode(line)
    except msgspec.DecodeError:
        return None
    return value if isinstance(value, dict) else None


def _edges(path: Path) -> _Edges:
    """The header and the closing marker of a file, read from its two ends only."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        head = f.read(min(size, _EDGE_BYTES))
        f.seek(max(0, size - _EDGE_BYTES))
        tail = f.read()
    header: dict[str, Any] | None = None
    head_end = 0
    newline = head.find(b"\n")
    if newline >= 0:
        first = _object(head[:newline])
        if first is not None and first.get("type") == "session":
            header, head_end = first, newline + 1
    marker: dict[str, Any] | None = None
    body_end = size
    trimmed = tail.rstrip(b"\n")
    start = trimmed.rfind(b"\n") + 1
    line_at = size - len(tail) + start
    if trimmed and line_at >= head_end and (start > 0 or size <= _EDGE_BYTES):
        last = _object(trimmed[start:])
        if is_marker(last):
            marker, body_end = last, line_at
    return _Edges(header, marker, body_end > head_end)


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def trajectory_key(folder: Path, session_id: str) -> str | None:
    """The key OpenClaw ran `session_id` under, from its run trace `<sessionId>.trajectory.jsonl`
    (every event of which carries `sessionKey`; OpenClaw 2026.x writes one per session)."""
    try:
        with open(folder / f"{session_id}.trajectory.jsonl", "rb") as f:
            first = f.readline(_EDGE_BYTES)
    except OSError:
        return None
    event = _object(first.rstrip(b"\n"))
    key = event.get("sessionKey") if event is not None else None
    return key if isinstance(key, str) and key.startswith("agent:") else None


def describe(agent_id: str, session_id: str, path: Path) -> ArchivedTranscript | None:
    """The record of one archive file, None if it holds no entries besides header and marker."""
    edges = _edges(path)
    if not edges.has_body:
        return None
    data = edges.marker.get("data") if edges.marker is not None else None
    data = data if isinstance(data, dict) else {}
    key = data.get("sessionKey")
    if not isinstance(key, str) or not key:
        key = trajectory_key(path.parent, session_id) or archived_fallback_key(agent_id, session_id)
    archived_at = _number(data.get("archivedAt"))
    if archived_at is None:
        match = _ARCHIVE_NAME.match(path.name)
        archived_at = stamp_time(match["stamp"]) if match is not None else None
    if archived_at is None:
        archived_at = os.stat(path).st_mtime
    created_at = _number(data.get("createdAt"))
    if created_at is None:
        created_at = 0.0
        stamp = edges.header.get("timestamp") if edges.header is not None else None
        if isinstance(stamp, str):
            with contextlib.suppress(ValueError):
                created_at = datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    return ArchivedTranscript(
        session_key=key, session_id=session_id, agent_id=agent_id, archived_at=archived_at, created_at=created_at
    )


def describe_folder(folder: Path, agent_id: str, live: Container[str]) -> list[ArchivedTranscript]:
    """Every archive in `folder` that holds entries, except those of session ids still live."""
    found: list[ArchivedTranscript] = []
    for session_id, path in archive_files(folder):
        if session_id in live:
            continue
        try:
            record = describe(agent_id, session_id, path)
        except FileNotFoundError:
            continue  # replaced or removed by another process meanwhile
        if record is not None:
            found.append(record)
    return found


def find(folder: Path, archived: ArchivedTranscript, exact: bool) -> Path | None:
    """The file of `archived`: the archive of its session id archived at that very time, else
    (unless `exact`) the newest archive of that session id."""
    candidates = [p for sid, p in archive_files(folder) if sid == archived.session_id]
    newest: Path | None = None
    for path in candidates:
        try:
            record = describe(archived.agent_id, archived.session_id, path)
        except FileNotFoundError:
            continue
        if record is not None and record.archived_at == archived.archived_at:
            return path
        newest = path
    return None if exact else newest


def seal(
    fd: int,
    path: Path,
    state: jsonl.TranscriptState,
    archived: ArchivedTranscript,
    policy: jsonl.FsyncPolicy,
) -> jsonl.DamageReport | None:
    """Append the closing marker to a transcript about to be archived (its flock held).

    An empty file gets none; a file damaged beyond repair is archived as it is, unmarked.
    """
    try:
        _, damage = jsonl.refresh(fd, path, state)
    except CorruptDataError:
        return None
    if state.end == 0:
        return damage
    marker = marker_entry(
        state.last_id, archived.session_key, archived.agent_id, archived.archived_at, archived.created_at
    )
    line = _encoder.encode(marker) + b"\n"
    view = memoryview(line)
    while view:
        view = view[os.write(fd, view) :]
    if policy != "never":
        os.fdatasync(fd)
    return damage


def write_import(
    folder: Path,
    archived: ArchivedTranscript,
    messages: Sequence[ChatMessage],
    cwd: str,
    durable: bool,
) -> jsonl.DamageReport | None:
    """Add the messages not yet in the archive of `archived` (by id), creating it if needed.

    The file is rewritten whole (temporary file, fsync, rename): its closing marker stays last
    and a reader sees the old or the new archive, never half of one.
    """
    path = find(folder, archived, exact=True)
    header: dict[str, Any] = fmt.header(archived.session_id, archived.created_at, cwd)
    body: list[dict[str, Any]] = []
    damage = None
    if path is not None:
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CLOEXEC)
        try:
            entries, damage = jsonl.read_all(fd, path, jsonl.TranscriptState())
        finally:
            os.close(fd)
        if entries and entries[0].get("type") == "session":
            header, entries = entries[0], entries[1:]
        body = [e for e in entries if not is_marker(e)]
    else:
        path = folder / archive_name(archived.session_id, archived.archived_at)
    ids = {e["id"] for e in body if isinstance(e.get("id"), str)}
    inbound = {i for i in map(fmt.inbound_of, body) if i is not None}
    batch = import_batch(messages, ids, inbound)
    if not batch:
        return damage
    parent = next((e["id"] for e in reversed(body) if isinstance(e.get("id"), str)), None)
    added: list[dict[str, Any]] = []
    for message in batch:
        added.append(fmt.transcript_entry(message, parent))
        parent = message.id
    marker = marker_entry(parent, archived.session_key, archived.agent_id, archived.archived_at, archived.created_at)
    data = b"".join(_encoder.encode(e) + b"\n" for e in [header, *body, *added, marker])
    folder.mkdir(parents=True, exist_ok=True)
    jsonl.write_atomically(path, data, durable)
    return damage
