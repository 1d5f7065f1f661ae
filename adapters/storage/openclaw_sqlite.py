"""Reading OpenClaw's SQLite-era state (releases 2026.7.2 and later), read-only.

Layout (see docs/openclaw.md, "SQLite state"):
- `<state>/state/openclaw.sqlite`: the global DB; `agent_databases(agent_id, path)` lists the
  per-agent DBs (path relative to the state folder).
- `<state>/agents/<agentId>/agent/openclaw-agent.sqlite`: `session_nodes` (one row per session
  key, `entry_json` = the old sessions.json entry), `transcript_events` (one event per row, the
  body in `event_json` or zstd-compressed in `event_zstd`), the active branch in
  `session_transcript_active_events`, and `session_transcript_archives` (transcripts of
  deleted sessions, JSONL, zstd or identity).
- A reset happens in place: the session id stays and a `{"type": "reset"}` event is appended.
  So a transcript is split at its reset events: the last segment is the live conversation, each
  earlier segment an archived transcript of the same key, under the session id
  `<sessionId>-reset-<reset event id>` (stable, so a re-run finds what it imported).

The DBs are opened `mode=ro` (plus `immutable=1` when no write-ahead log is pending, so SQLite
creates no -shm file): nothing in OpenClaw's folder is written, and with an old SQLite (< 3.43)
writing into these STRICT tables would fail anyway. Blocking code: callers run it in a thread.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from rustyclaw.adapters.storage import openclaw_format as fmt
from rustyclaw.domain.errors import MissingExtraError, StorageError
from rustyclaw.domain.messages import ChatMessage, SessionEntry
from rustyclaw.ports.archive import ArchivedTranscript

GLOBAL_DB = Path("state") / "openclaw.sqlite"
AGENT_DB = Path("agent") / "openclaw-agent.sqlite"


@dataclass(slots=True)
class SqliteState:
    """Everything read from one state folder."""

    sessions: list[SessionEntry] = field(default_factory=list)
    transcripts: dict[str, list[ChatMessage]] = field(default_factory=dict)
    archives: list[tuple[ArchivedTranscript, list[ChatMessage]]] = field(default_factory=list)
    # What was seen but not carried (cold-storage archives, unreadable rows): said in the report.
    skipped: list[str] = field(default_factory=list)


def has_sqlite_state(state_dir: Path) -> bool:
    """Whether sessions live in SQLite here: an agent database exists. (2026.7.1 and earlier
    already have a global `state/openclaw.sqlite` for pairing and cron, but no agent DBs.)"""
    return any(agent_databases(state_dir))


def open_read_only(path: Path) -> sqlite3.Connection:
    """A read-only connection; `immutable=1` unless a write-ahead log is pending (then SQLite must
    read it, and may create the -shm file it needs)."""
    wal = path.with_name(path.name + "-wal")
    pending = wal.exists() and wal.stat().st_size > 0
    uri = f"file:{quote(str(path))}?mode=ro" + ("" if pending else "&immutable=1")
    try:
        db = sqlite3.connect(uri, uri=True)
        db.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.Error as exc:
        raise StorageError(f"cannot open OpenClaw database {path} read-only: {exc}") from exc
    db.row_factory = sqlite3.Row
    return db


def _tables(db: sqlite3.Connection) -> set[str]:
    return {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def agent_databases(state_dir: Path) -> Iterator[tuple[str, Path]]:
    """(agent id, DB path) of every agent DB: from `agent_databases`, else found on disk."""
    seen: set[Path] = set()
    global_db = state_dir / GLOBAL_DB
    if global_db.is_file():
        db = open_read_only(global_db)
        try:
            if "agent_databases" in _tables(db):
                for row in db.execute("SELECT agent_id, path FROM agent_databases ORDER BY agent_id"):
                    path = (state_dir / row["path"]).resolve()
                    if path.is_file() and path not in seen:
                        seen.add(path)
                        yield str(row["agent_id"]), path
        finally:
            db.close()
    # Agent DBs the global index does not list (or no global DB): agents/<id>/agent/openclaw-agent.sqlite.
    for path in sorted((state_dir / "agents").glob(f"*/{AGENT_DB.as_posix()}")):
        if path.resolve() not in seen:
            seen.add(path.resolve())
            yield path.parent.parent.name, path.resolve()


class _Zstd:
    """zstandard, imported when a compressed row is met (it is the `openclaw` extra)."""

    def __init__(self) -> None:
        self._decompressor: Any = None

    def decode(self, blob: bytes, size: int | None) -> bytes:
        if self._decompressor is None:
            try:
                import zstandard
            except ImportError as exc:
                raise MissingExtraError("zstandard", "openclaw", "Reading OpenClaw's compressed transcripts") from exc
            self._decompressor = zstandard.ZstdDecompressor()
        if size:
            return bytes(self._decompressor.decompress(blob, max_output_size=size))
        # Frames without a content size (streamed): read them whole.
        return bytes(self._decompressor.stream_reader(blob).read())


def _event_rows(db: sqlite3.Connection, tables: set[str], session_id: str) -> list[sqlite3.Row]:
    """The events of one session on its active branch (OpenClaw's readers go through
    `session_transcript_active_events`), else all of them in append order."""
    if "session_transcript_active_events" in tables:
        rows = db.execute(
            "SELECT e.seq, e.event_json, e.event_zstd, e.event_utf8_bytes FROM session_transcript_active_events a "
            "JOIN transcript_events e ON e.session_id = a.session_id AND e.seq = a.event_seq "
            "WHERE a.session_id = ? ORDER BY a.active_position",
            (session_id,),
        ).fetchall()
        if rows:
            return rows
    return db.execute(
        "SELECT seq, event_json, event_zstd, event_utf8_bytes FROM transcript_events WHERE session_id = ? ORDER BY seq",
        (session_id,),
    ).fetchall()


def _iso_seconds(value: Any) -> float | None:
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    return None


@dataclass(slots=True)
class _Segment:
    messages: list[ChatMessage]
    started_at: float | None
    reset: dict[str, Any] | None  # the reset event that closed it (None: the last segment)


def split_at_resets(events: Sequence[dict[str, Any]], where: str) -> list[_Segment]:
    """The conversation of a transcript's events, cut at each `{"type": "reset"}` event."""
    segments = [_Segment([], None, None)]
    for number, event in enumerate(events):
        kind = event.get("type")
        current = segments[-1]
        if current.started_at is None and kind != "reset":
            current.started_at = _iso_seconds(event.get("timestamp"))
        if kind == "reset":
            current.reset = event
            segments.append(_Segment([], _iso_seconds(event.get("timestamp")), None))
            continue
        try:
            message = fmt.chat_message(event)
        except fmt.FormatError as exc:
            raise StorageError(f"{where}, event {number}: {exc}") from exc
        if message is not None:
            current.messages.append(message)
    return segments


def archive_session_id(session_id: str, reset: dict[str, Any], index: int) -> str:
    return f"{session_id}-reset-{reset.get('id') or index}"


def _decode_events(text: str, where: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise StorageError(f"{where}, line {number} is not valid JSON: {exc.msg}") from exc
        if isinstance(value, dict):
            events.append(value)
    return events


def _read_agent(state: SqliteState, agent_id: str, path: Path, zstd: _Zstd, live_ids: set[str]) -> None:
    db = open_read_only(path)
    try:
        tables = _tables(db)
        if "session_nodes" not in tables or "transcript_events" not in tables:
            state.skipped.append(f"{path}: no session tables (not an OpenClaw agent database)")
            return
        nodes = db.execute(
            "SELECT session_key, current_session_id, entry_json FROM session_nodes ORDER BY session_key"
        ).fetchall()
        for node in nodes:
            key = str(node["session_key"])
            session_id = node["current_session_id"]
            try:
                value = json.loads(node["entry_json"] or "{}")
            except json.JSONDecodeError:
                value = {}
            if not isinstance(value, dict):
                value = {}
            if session_id and not value.get("sessionId"):
                value["sessionId"] = session_id
            try:
                entry = fmt.session_entry(key, agent_id, value)
            except fmt.FormatError as exc:
                state.skipped.append(f"{path}: session {key}: {exc}")
                continue
            rows = _event_rows(db, tables, entry.session_id)
            events = [_event_body(row, zstd, path, entry.session_id) for row in rows]
            segments = split_at_resets(events, f"{path}, session {key}")
            live_ids.add(entry.session_id)
            state.sessions.append(entry)
            state.transcripts[key] = segments[-1].messages
            for index, segment in enumerate(segments[:-1]):
                if not segment.messages:
                    continue
                assert segment.reset is not None
                archived_at = _iso_seconds(segment.reset.get("timestamp")) or entry.created_at
                record = ArchivedTranscript(
                    session_key=key,
                    session_id=archive_session_id(entry.session_id, segment.reset, index),
                    agent_id=agent_id,
                    archived_at=archived_at,
                    created_at=segment.started_at or 0.0,
                )
                state.archives.append((record, segment.messages))
        if "session_transcript_archives" in tables:
            _read_archives(state, db, agent_id, path, zstd, live_ids)
        if "session_transcript_cold_archives" in tables:
            (cold,) = db.execute("SELECT count(*) FROM session_transcript_cold_archives").fetchone()
            if cold:
                state.skipped.append(f"{path}: {cold} cold-storage archives (session.maintenance.coldStorage) not read")
    except sqlite3.Error as exc:
        raise StorageError(f"reading OpenClaw database {path}: {exc}") from exc
    finally:
        db.close()


def _event_body(row: sqlite3.Row, zstd: _Zstd, path: Path, session_id: str) -> dict[str, Any]:
    where = f"{path}, session {session_id}, event {row['seq']}"
    text = row["event_json"]
    if text is None:
        blob = row["event_zstd"]
        if blob is None:
            raise StorageError(f"{where}: neither event_json nor event_zstd is set")
        try:
            text = zstd.decode(bytes(blob), row["event_utf8_bytes"]).decode("utf-8")
        except MissingExtraError:
            raise
        except Exception as exc:  # zstandard.ZstdError and UnicodeDecodeError alike
            raise StorageError(f"{where}: compressed body does not decode: {exc}") from exc
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise StorageError(f"{where} is not valid JSON: {exc.msg}") from exc
    if not isinstance(value, dict):
        raise StorageError(f"{where} is not a JSON object")
    return value


def _read_archives(
    state: SqliteState, db: sqlite3.Connection, agent_id: str, path: Path, zstd: _Zstd, live_ids: set[str]
) -> None:
    rows = db.execute(
        "SELECT session_id, generation, session_key, reason, encoding, archive_blob, archive_name, created_at "
        "FROM session_transcript_archives ORDER BY created_at, session_id, generation"
    ).fetchall()
    folder = path.parent.parent / "sessions"
    for row in rows:
        where = f"{path}, archive {row['archive_name'] or row['session_id']}"
        blob = row["archive_blob"]
        if blob is None and row["archive_name"]:
            published = folder / str(row["archive_name"])
            if published.is_file():
                blob = published.read_bytes()
        if blob is None:
            state.skipped.append(f"{where}: no content in the row nor a published file")
            continue
        data = bytes(blob)
        if row["encoding"] == "zstd":
            try:
                data = zstd.decode(data, None)
            except MissingExtraError:
                raise
            except Exception as exc:
                raise StorageError(f"{where}: compressed archive does not decode: {exc}") from exc
        events = _decode_events(data.decode("utf-8", errors="strict"), where)
        header = events[0] if events and events[0].get("type") == "session" else None
        body = events[1:] if header is not None else events
        segments = split_at_resets(body, where)
        session_id = str(row["session_id"])
        key = str(row["session_key"] or f"agent:{agent_id}:archived:{session_id}")
        archived_at = (row["created_at"] or 0) / 1000
        started = _iso_seconds(header.get("timestamp")) if header is not None else None
        last = len(segments) - 1
        for index, segment in enumerate(segments):
            if not segment.messages:
                continue
            if index < last:
                assert segment.reset is not None
                sid = archive_session_id(session_id, segment.reset, index)
                at = _iso_seconds(segment.reset.get("timestamp")) or archived_at
            else:
                sid = session_id if session_id not in live_ids else f"{session_id}-{row['reason']}-{row['generation']}"
                at = archived_at
            live_ids.add(sid)
            record = ArchivedTranscript(
                session_key=key,
                session_id=sid,
                agent_id=agent_id,
                archived_at=at,
                created_at=(segment.started_at if index else started or segment.started_at) or 0.0,
            )
            state.archives.append((record, segment.messages))


def read_state(state_dir: Path) -> SqliteState:
    """Every session, live transcript and archived transcript of a SQLite-era state folder."""
    state = SqliteState()
    zstd = _Zstd()
    live_ids: set[str] = set()
    found = list(agent_databases(state_dir))
    if not found:
        raise StorageError(f"{state_dir / GLOBAL_DB} lists no agent databases and none is in {state_dir / 'agents'}")
    for agent_id, path in found:
        _read_agent(state, agent_id, path, zstd, live_ids)
    return state
