"""`memory_search` and `memory_get` (`group:memory`), in OpenClaw's parameter and result shapes.

- `memory_search {query, maxResults?, minScore?}` -> `{"results": [{path, startLine, endLine, score,
  snippet, source}], "backend": "builtin", "provider": "fts5", "mode": "keyword"}`; when the index
  cannot be used: `{"results": [], "disabled": true, "error": "..."}`.
- `memory_get {path, from?, lines?}` -> `{"path", "from", "lines", "text"}`: lines of `MEMORY.md` or
  `memory/*.md`, or (for a `sessions/<sessionId>` hit) messages of that transcript by number.
Outside the agent's main session MEMORY.md is private (neither searched nor read) and transcripts
are limited to the session's own.
"""

from __future__ import annotations

from typing import Any

import msgspec

from rustyclaw.adapters.memory.files import memory_path
from rustyclaw.domain.errors import MemoryIndexError, ToolError
from rustyclaw.domain.memory import MemorySettings, is_main_session, private_paths
from rustyclaw.domain.messages import ChatMessage
from rustyclaw.ports.archive import TranscriptArchive
from rustyclaw.ports.llm import ToolSpec
from rustyclaw.ports.memory import MemoryFiles, MemoryHit, MemoryIndex, MemoryQuery
from rustyclaw.ports.session_store import SessionStore
from rustyclaw.ports.tools import ToolContext

_MAX_RESULTS = 50
_SESSIONS = "sessions/"


class _SearchResult(msgspec.Struct, kw_only=True, omit_defaults=True):
    """`disabled`/`error` appear only when the index cannot be used."""

    results: list[MemoryHit]
    backend: str
    provider: str
    mode: str
    disabled: bool = False
    error: str | None = None


def _result(hits: list[MemoryHit], error: str | None = None) -> str:
    return _encoder.encode(_SearchResult(
        results=hits, backend="builtin", provider="fts5", mode="keyword", disabled=error is not None, error=error,
    )).decode()


class _GetResult(msgspec.Struct, kw_only=True):
    path: str
    from_: int = msgspec.field(name="from")
    lines: int
    text: str
    truncated: bool = False


_encoder = msgspec.json.Encoder()


def _int_arg(arguments: dict[str, Any], name: str, default: int | None, low: int, high: int) -> int | None:
    value = arguments.get(name, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value:
        raise ToolError(f"'{name}' must be a whole number")
    if not low <= int(value) <= high:
        raise ToolError(f"'{name}' must be between {low} and {high}")
    return int(value)


class MemorySearchTool:
    # Short like the other default tools' specs: each first prompt carries them (budget: 1,000 tokens).
    spec = ToolSpec(
        name="memory_search",
        description="Search memory notes and past chats (path, lines, snippet).",
        parameters={
            "type": "object",
            "properties": {
                "query": {"type": "string"},
                "maxResults": {"type": "integer"},
                "minScore": {"type": "number"},
            },
            "required": ["query"],
        },
    )

    def __init__(self, index: MemoryIndex, settings: MemorySettings, main_key: str = "main") -> None:
        self._index = index
        self._settings = settings
        self._main_key = main_key

    async def run(self, arguments: dict[str, Any], context: ToolContext) -> str:
        query = arguments.get("query")
        if not isinstance(query, str) or not query.strip():
            raise ToolError("'query' must be a non-empty string")
        limit = _int_arg(arguments, "maxResults", self._settings.max_results, 1, _MAX_RESULTS)
        min_score = arguments.get("minScore", self._settings.min_score)
        if isinstance(min_score, bool) or not isinstance(min_score, int | float) or not 0 <= min_score <= 1:
            raise ToolError("'minScore' must be a number from 0 to 1")
        main = is_main_session(context.session_key, context.agent_id, self._main_key)
        request = MemoryQuery(
            agent_id=context.agent_id, text=query, max_results=limit or self._settings.max_results,
            min_score=float(min_score), sources=self._settings.sources,
            paths_excluded=private_paths(context.session_key, context.agent_id, self._main_key),
            session_ids=None if main else (context.session_id,),
        )
        try:
            hits = await self._index.search(request)
        except MemoryIndexError as exc:
            return _result([], str(exc))
        return _result(hits)


class MemoryGetTool:
    spec = ToolSpec(
        name="memory_get",
        description="Read lines of a memory file or a sessions/<id> hit.",
        parameters={
            "type": "object",
            "properties": {"path": {"type": "string"}, "from": {"type": "integer"}, "lines": {"type": "integer"}},
            "required": ["path"],
        },
    )

    def __init__(self, files: MemoryFiles, settings: MemorySettings, store: SessionStore | None = None,
                 archive: TranscriptArchive | None = None, main_key: str = "main") -> None:
        self._files = files
        self._settings = settings
        self._store = store
        self._archive = archive
        self._main_key = main_key

    async def run(self, arguments: dict[str, Any], context: ToolContext) -> str:
        raw = arguments.get("path")
        if not isinstance(raw, str) or not raw.strip():
            raise ToolError("'path' must be a non-empty string")
        start = _int_arg(arguments, "from", 1, 1, 10_000_000) or 1
        count = _int_arg(arguments, "lines", None, 1, 100_000)
        path = raw.strip()
        if path.startswith(_SESSIONS):
            text = await self._transcript(path.removeprefix(_SESSIONS), start, count, context)
        else:
            path = memory_path(path)
            if path in private_paths(context.session_key, context.agent_id, self._main_key):
                raise ToolError(f"{path} is private to the main session")
            text = self._files.read_lines(context.agent_id, path, start, count)
        limit = self._settings.get_max_chars
        truncated = len(text) > limit
        if truncated:
            text = text[:limit]
        shown = text.count("\n") + 1 if text else 0
        return _encoder.encode(_GetResult(path=path, from_=start, lines=shown, text=text,
                                          truncated=truncated)).decode()

    async def _transcript(self, session_id: str, start: int, count: int | None, context: ToolContext) -> str:
        main = is_main_session(context.session_key, context.agent_id, self._main_key)
        if not main and session_id != context.session_id:
            raise ToolError("other sessions' transcripts are readable from the main session only")
        messages = await self._find(session_id, context.agent_id)
        end = len(messages) if count is None else start - 1 + count
        return "\n".join(
            f"{number}. {m.role}: {m.content}"
            for number, m in enumerate(messages, start=1)
            if start <= number <= end
        )

    async def _find(self, session_id: str, agent_id: str) -> list[ChatMessage]:
        if self._store is not None:
            for entry in await self._store.list_sessions(agent_id):
                if entry.session_id == session_id:
                    return await self._store.load_messages(entry)
        if self._archive is not None:
            for archived in await self._archive.list_archived(agent_id):
                if archived.session_id == session_id:
                    return await self._archive.load_archived(archived)
        raise ToolError(f"no transcript sessions/{session_id} for this agent")
