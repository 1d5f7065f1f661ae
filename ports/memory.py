"""The agent's memory: Markdown files in its workspace and a search index over them and past transcripts.

OpenClaw's layout: `MEMORY.md` (curated, loaded in the main session only) and `memory/YYYY-MM-DD.md`
(daily notes) in the agent's workspace. Paths given to and returned by these ports are relative to
that workspace, always with forward slashes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol

import msgspec

MemorySource = Literal["memory", "sessions"]


class MemoryHit(msgspec.Struct, frozen=True, kw_only=True):
    """One search result in OpenClaw's `memory_search` shape (lines are 1-based, inclusive).

    For `source="sessions"` the path is `sessions/<sessionId>` and the lines are message numbers.
    """

    path: str
    start_line: int = msgspec.field(name="startLine")
    end_line: int = msgspec.field(name="endLine")
    score: float
    snippet: str
    source: MemorySource


class MemoryQuery(msgspec.Struct, frozen=True, kw_only=True):
    """`paths_excluded` keeps private files (MEMORY.md) out of group sessions; `session_ids`, when
    set, limits transcript hits to those sessions."""

    agent_id: str
    text: str
    max_results: int = 6
    min_score: float = 0.0
    sources: tuple[MemorySource, ...] = ("memory", "sessions")
    paths_excluded: tuple[str, ...] = ()
    session_ids: tuple[str, ...] | None = None


class MemoryIndex(Protocol):
    """A full-text index over one state folder, scoped per agent, brought up to date incrementally
    (changed files and new transcript messages only) before each search."""

    async def start(self) -> None: ...

    async def aclose(self) -> None: ...

    async def search(self, query: MemoryQuery) -> list[MemoryHit]:
        """Best first; raises MemoryIndexError (domain/errors) when the index cannot be used."""
        ...


class MemoryFiles(Protocol):
    """The memory Markdown files of each agent's workspace."""

    def list_files(self, agent_id: str) -> Sequence[str]:
        """`MEMORY.md` (if present) and every `memory/**/*.md`, sorted."""
        ...

    def read_lines(self, agent_id: str, path: str, start: int = 1, count: int | None = None) -> str:
        """Lines `start`.. of a memory file (all to the end when `count` is None); raises
        ToolError for a path outside the memory files or one that does not exist."""
        ...

    def append(self, agent_id: str, path: str, text: str) -> None:
        """Appends a block of text to a memory file, creating it (and `memory/`) if needed."""
        ...
