"""The memory search index: SQLite FTS5 over memory files and past transcripts (MemoryIndex).

One index database in the state folder (`<state>/memory/index.sqlite`) holds every agent's chunks,
each row tagged with its agent, so one agent never finds another's notes. Before each search the
index catches up incrementally: memory files whose size or modification time changed are chunked
again, deleted ones dropped; transcripts add only the messages stored since the last catch-up
(live sessions whose `updatedAt` moved, archived transcripts once). Ranking is FTS5's BM25, mapped
to a 0..1 score relative to the query's best hit; snippets come from FTS5's `snippet()`.

Chunks follow the files' Markdown: a heading starts a new chunk, and a chunk ends after
`_CHUNK_LINES` lines or `_CHUNK_CHARS` characters, so a hit points at a few lines that `memory_get`
can read. A transcript message is one chunk whose "lines" are its message number.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import anyio

from rustyclaw.adapters.memory.files import WorkspaceMemoryFiles
from rustyclaw.domain.compaction import in_context
from rustyclaw.domain.errors import MemoryIndexError, RustyClawError
from rustyclaw.domain.messages import ChatMessage
from rustyclaw.ports.archive import TranscriptArchive
from rustyclaw.ports.memory import MemoryHit, MemoryQuery, MemorySource
from rustyclaw.ports.session_store import SessionStore

T = TypeVar("T")

_CHUNK_LINES = 12
_CHUNK_CHARS = 700
_MESSAGE_CHARS = 2000
_SNIPPET_TOKENS = 48
_WORD = re.compile(r"\w+", re.UNICODE)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS indexed (
    agent_id TEXT NOT NULL,
    path TEXT NOT NULL,
    source TEXT NOT NULL,
    stamp TEXT NOT NULL,
    items INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (agent_id, path)
);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY,
    agent_id TEXT NOT NULL,
    path TEXT NOT NULL,
    source TEXT NOT NULL,
    start_line INTEGER NOT NULL,
    end_line INTEGER NOT NULL,
    text TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_by_path ON chunks (agent_id, path);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
    text, content='chunks', content_rowid='id', tokenize='unicode61 remove_diacritics 2'
);
CREATE TRIGGER IF NOT EXISTS chunks_ai AFTER INSERT ON chunks BEGIN
    INSERT INTO chunks_fts (rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER IF NOT EXISTS chunks_ad AFTER DELETE ON chunks BEGIN
    INSERT INTO chunks_fts (chunks_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
"""

Chunk = tuple[int, int, str]


def chunk_markdown(text: str) -> list[Chunk]:
    """(start_line, end_line, text) blocks of a Markdown file, 1-based inclusive lines."""
    chunks: list[Chunk] = []
    block: list[str] = []
    start = 1
    size = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if block and (line.startswith("#") or len(block) >= _CHUNK_LINES or size + len(line) > _CHUNK_CHARS):
            chunks.append((start, number - 1, "\n".join(block)))
            block, size = [], 0
        if not block:
            start = number
        block.append(line)
        size += len(line) + 1
    if block:
        chunks.append((start, start + len(block) - 1, "\n".join(block)))
    return [c for c in chunks if c[2].strip()]


def match_expression(text: str) -> str | None:
    """An FTS5 query for free text: every word quoted (no operator injection), any word may match;
    BM25 ranks chunks holding more of them, and rarer ones, first."""
    words = list(dict.fromkeys(w.lower() for w in _WORD.findall(text)))
    if not words:
        return None
    return " OR ".join(f'"{w}"' for w in words)


def relative_score(rank: float, best: float) -> float:
    """FTS5's bm25() is negative, lower is better, and its scale depends on the corpus (a tiny one
    gives values near zero); 0..1 relative to the query's best hit keeps `minScore` meaningful."""
    if best >= 0.0:
        return 1.0
    return max(0.0, min(1.0, rank / best))


class FtsMemoryIndex:
    """`store`/`archive` give the transcripts (None: memory files only)."""

    def __init__(
        self,
        path: Path | str,
        files: WorkspaceMemoryFiles,
        store: SessionStore | None = None,
        archive: TranscriptArchive | None = None,
    ) -> None:
        self._path = path if path == ":memory:" else Path(path)
        self._files = files
        self._store = store
        self._archive = archive
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        # Only one catch-up per agent at a time; searches meanwhile wait for it.
        self._sync_locks: dict[str, anyio.Lock] = {}

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        if self._db is None:
            self._db = await anyio.to_thread.run_sync(self._open)

    def _open(self) -> sqlite3.Connection:
        try:
            if isinstance(self._path, Path):
                self._path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(str(self._path), check_same_thread=False, isolation_level=None)
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")
            db.executescript(_SCHEMA)
        except (sqlite3.Error, OSError) as exc:
            raise MemoryIndexError(f"cannot open the memory index {self._path}: {exc}") from exc
        return db

    async def aclose(self) -> None:
        db, self._db = self._db, None
        if db is not None:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(db.close)

    # -- search -------------------------------------------------------------------------------

    async def search(self, query: MemoryQuery) -> list[MemoryHit]:
        expression = match_expression(query.text)
        if expression is None:
            return []
        await self.sync(query.agent_id, query.sources)
        return await self._run(lambda db: self._query(db, query, expression))

    def _query(self, db: sqlite3.Connection, query: MemoryQuery, expression: str) -> list[MemoryHit]:
        sql = [
            "SELECT c.path, c.source, c.start_line, c.end_line, bm25(chunks_fts) AS rank, "
            f"snippet(chunks_fts, 0, '', '', ' … ', {_SNIPPET_TOKENS}) "
            "FROM chunks_fts JOIN chunks AS c ON c.id = chunks_fts.rowid "
            "WHERE chunks_fts MATCH ? AND c.agent_id = ?"
        ]
        params: list[Any] = [expression, query.agent_id]
        sql.append(f" AND c.source IN ({', '.join('?' * len(query.sources))})")
        params.extend(query.sources)
        if query.paths_excluded:
            sql.append(f" AND c.path NOT IN ({', '.join('?' * len(query.paths_excluded))})")
            params.extend(query.paths_excluded)
        if query.session_ids is not None:
            allowed = [f"sessions/{sid}" for sid in query.session_ids]
            sql.append(f" AND (c.source <> 'sessions' OR c.path IN ({', '.join('?' * len(allowed)) or 'NULL'}))")
            params.extend(allowed)
        sql.append(" ORDER BY rank LIMIT ?")
        params.append(max(1, query.max_results) * 3)
        hits: list[MemoryHit] = []
        rows = db.execute("".join(sql), params).fetchall()
        best = rows[0][4] if rows else 0.0
        for path, source, start, end, rank, snippet in rows:
            score = relative_score(rank, best)
            if score < query.min_score:
                continue
            hits.append(MemoryHit(path=path, start_line=start, end_line=end, score=round(score, 4),
                                  snippet=snippet, source=source))
            if len(hits) >= query.max_results:
                break
        return hits

    # -- catching up --------------------------------------------------------------------------

    async def sync(self, agent_id: str, sources: Sequence[MemorySource] = ("memory", "sessions")) -> None:
        lock = self._sync_locks.setdefault(agent_id, anyio.Lock())
        async with lock:
            if "memory" in sources:
                await self._run(lambda db: self._sync_files(db, agent_id))
            if "sessions" in sources and self._store is not None:
                await self._sync_transcripts(agent_id)

    def _sync_files(self, db: sqlite3.Connection, agent_id: str) -> None:
        known = dict(db.execute(
            "SELECT path, stamp FROM indexed WHERE agent_id = ? AND source = 'memory'", (agent_id,)
        ).fetchall())
        stamps = self._files.stamps(agent_id)
        for rel, stamp in stamps.items():
            if known.get(rel) == stamp:
                continue
            try:
                text = self._files.read_lines(agent_id, rel)
            except RustyClawError:
                continue
            with _transaction(db):
                db.execute("DELETE FROM chunks WHERE agent_id = ? AND path = ?", (agent_id, rel))
                db.executemany(
                    "INSERT INTO chunks (agent_id, path, source, start_line, end_line, text) "
                    "VALUES (?, ?, 'memory', ?, ?, ?)",
                    [(agent_id, rel, s, e, t) for s, e, t in chunk_markdown(text)],
                )
                db.execute(
                    "INSERT INTO indexed (agent_id, path, source, stamp) VALUES (?, ?, 'memory', ?) "
                    "ON CONFLICT (agent_id, path) DO UPDATE SET stamp = excluded.stamp",
                    (agent_id, rel, stamp),
                )
        for gone in set(known) - set(stamps):
            with _transaction(db):
                db.execute("DELETE FROM chunks WHERE agent_id = ? AND path = ?", (agent_id, gone))
                db.execute("DELETE FROM indexed WHERE agent_id = ? AND path = ?", (agent_id, gone))

    async def _sync_transcripts(self, agent_id: str) -> None:
        assert self._store is not None
        known: dict[str, tuple[str, int]] = {
            path: (stamp, items)
            for path, stamp, items in await self._run(lambda db: db.execute(
                "SELECT path, stamp, items FROM indexed WHERE agent_id = ? AND source = 'sessions'", (agent_id,)
            ).fetchall())
        }
        try:
            for entry in await self._store.list_sessions(agent_id):
                path = f"sessions/{entry.session_id}"
                stamp = f"live:{entry.updated_at!r}"
                stored_stamp, done = known.get(path, ("", 0))
                if stored_stamp == stamp:
                    continue
                # Only what was appended since the last catch-up (transcripts are append-only).
                messages = await self._store.load_messages_from(entry, done)
                await self._add_messages(agent_id, path, stamp, messages, done)
            if self._archive is not None:
                for archived in await self._archive.list_archived(agent_id):
                    path = f"sessions/{archived.session_id}"
                    stamp = "archived"
                    if known.get(path, ("", 0))[0] == stamp:
                        continue
                    done = known.get(path, ("", 0))[1]
                    messages = (await self._archive.load_archived(archived))[done:]
                    await self._add_messages(agent_id, path, stamp, messages, done)
        except RustyClawError as exc:
            raise MemoryIndexError(f"cannot read transcripts for the memory index: {exc}") from exc

    async def _add_messages(
        self, agent_id: str, path: str, stamp: str, messages: Sequence[ChatMessage], done: int
    ) -> None:
        """`messages` are the transcript's from position `done` on (message numbers are 1-based)."""
        rows = [
            (agent_id, path, number, number, f"{m.role}: {m.content[:_MESSAGE_CHARS]}")
            for number, m in enumerate(messages, start=done + 1)
            if in_context(m) and m.role in ("user", "assistant") and m.content.strip()
        ]

        def write(db: sqlite3.Connection) -> None:
            with _transaction(db):
                db.executemany(
                    "INSERT INTO chunks (agent_id, path, source, start_line, end_line, text) "
                    "VALUES (?, ?, 'sessions', ?, ?, ?)", rows,
                )
                db.execute(
                    "INSERT INTO indexed (agent_id, path, source, stamp, items) VALUES (?, ?, 'sessions', ?, ?) "
                    "ON CONFLICT (agent_id, path) DO UPDATE SET stamp = excluded.stamp, items = excluded.items",
                    (agent_id, path, stamp, done + len(messages)),
                )

        await self._run(write)

    # -- plumbing -----------------------------------------------------------------------------

    async def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        db = self._db
        if db is None:
            raise MemoryIndexError("the memory index is not open (call start() first)")

        def locked() -> T:
            with self._lock:
                try:
                    return work(db)
                except sqlite3.Error as exc:
                    raise MemoryIndexError(f"memory index {self._path}: {exc}") from exc

        return await anyio.to_thread.run_sync(locked)


@contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[None]:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any error (the connection is in autocommit mode)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
