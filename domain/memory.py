"""Memory rules (pure): OpenClaw's workspace layout, the main-session MEMORY.md, the pre-compaction flush.

- `MEMORY.md` is curated long-term memory, put into the system prompt of the agent's main session
  only (it is private: group chats never see it, and memory_search leaves it out there too).
- `memory/YYYY-MM-DD.md` are daily notes, found on demand with `memory_search` / `memory_get`.
- Before compaction the model is asked once per compaction cycle to write durable notes; RustyClaw
  appends its answer to today's `memory/YYYY-MM-DD.md` itself, so the flush works with models that
  cannot call tools and needs no write access to the workspace for the model. `NO_REPLY` (any case)
  means there is nothing to store.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import anyio

from rustyclaw.domain.compaction import Budget, MemoryFlushSettings, chunk, render
from rustyclaw.domain.context import ContextBuilder
from rustyclaw.domain.errors import LLMError, ToolError
from rustyclaw.domain.messages import ChatMessage, SessionEntry
from rustyclaw.domain.task_routing import SUMMARY_TASK
from rustyclaw.ports.llm import LLMClient, LLMRequest
from rustyclaw.ports.memory import MemoryFiles, MemorySource
from rustyclaw.ports.workspace import Workspace

MEMORY_FILE = "MEMORY.md"
MEMORY_DIR = "memory"
SILENT_TOKEN = "NO_REPLY"
# Session-entry meta keys, OpenClaw's names for its session-row fields.
FLUSH_AT = "memoryFlushAt"
FLUSH_COUNT = "memoryFlushCompactionCount"

log = logging.getLogger("rustyclaw.memory")

FLUSH_SYSTEM = (
    "Pre-compaction memory flush. This conversation is about to be compacted and its older turns "
    "will leave your context. Write down what is worth remembering in later sessions: durable facts "
    "about the user, their preferences, decisions, names, dates, ids and open tasks. Reply with short "
    f"Markdown bullet points only. If nothing is worth storing, reply with exactly {SILENT_TOKEN}."
)


@dataclass(frozen=True, slots=True)
class MemorySettings:
    """The `memory` section: search over the memory files and past transcripts."""

    enabled: bool = True
    sources: tuple[MemorySource, ...] = ("memory", "sessions")
    max_results: int = 6
    # BM25 scores mapped to 0..1 are not embedding similarities; 0 keeps every keyword match.
    min_score: float = 0.0
    snippet_chars: int = 700
    get_max_chars: int = 12_000


def daily_note_path(day: date) -> str:
    return f"{MEMORY_DIR}/{day.isoformat()}.md"


def is_main_session(session_key: str, agent_id: str, main_key: str = "main") -> bool:
    return session_key == f"agent:{agent_id}:{main_key}"


def memory_prompt_section(workspace: Workspace | None, agent_id: str, session_key: str,
                          main_key: str, limit: int) -> str:
    """The MEMORY.md section of the system prompt's Project Context: main session only, capped like
    the other workspace files; "" when it does not apply."""
    if workspace is None or not is_main_session(session_key, agent_id, main_key):
        return ""
    text = workspace.read_text(agent_id, MEMORY_FILE, limit + 1)
    if text is None or not text.strip():
        return ""
    body = text.strip()
    if len(body) > limit:
        body = body[:limit] + f"\n[... truncated at {limit} characters ...]"
    return f"## {MEMORY_FILE}\n{body}"


def private_paths(session_key: str, agent_id: str, main_key: str) -> tuple[str, ...]:
    """Memory files a session may not search or read (MEMORY.md outside the main session)."""
    return () if is_main_session(session_key, agent_id, main_key) else (MEMORY_FILE,)


def flush_due(entry: SessionEntry) -> bool:
    """Once per compaction cycle: not yet flushed since the last compaction."""
    done = entry.meta.get(FLUSH_COUNT)
    return not (isinstance(done, int) and done >= entry.compaction_count)


def note_block(text: str, when: str) -> str:
    return f"\n## Notes {when}\n\n{text.strip()}\n"


class MemoryFlusher:
    """Asks the model for durable notes from the turns about to be compacted and files them."""

    def __init__(self, llm: LLMClient, context: ContextBuilder, files: MemoryFiles,
                 settings: MemoryFlushSettings, timeout_seconds: float = 120.0) -> None:
        self._llm = llm
        self._context = context
        self._files = files
        self.settings = settings
        self._timeout = timeout_seconds

    async def flush(self, agent_id: str, messages: Sequence[ChatMessage], budget: Budget,
                    today: date, when: str, model: str | None = None) -> str | None:
        """The path written, or None when the model had nothing to store or failed (the failure is
        logged: compaction goes on, OpenClaw's "degraded" flush)."""
        lines = [render(m) for m in messages]
        costs = [self._context.text_cost(line) for line in lines]
        parts = chunk(lines, costs, budget.chunk_tokens)
        if not parts:
            return None
        path = daily_note_path(today)
        request = LLMRequest(
            messages=[
                ChatMessage(role="system", content=FLUSH_SYSTEM),
                # The newest part: what is about to leave the context and is freshest.
                ChatMessage(role="user", content="Conversation:\n" + "\n".join(parts[-1])
                            + f"\n\nNotes for {path}, or {SILENT_TOKEN}:"),
            ],
            model=self.settings.model or model,
            task=SUMMARY_TASK,  # the agent's routes.summary, else llm.routes.summary when configured
            agent=agent_id,
            max_tokens=budget.summary_tokens,
            temperature=0.2,
        )
        try:
            with anyio.fail_after(self._timeout):
                result = await self._llm.complete(request)
        except (LLMError, TimeoutError) as exc:
            log.warning("memory flush failed, continuing: %s", exc or "timed out")
            return None
        text = result.message.content.strip()
        if not text or text.upper().startswith(SILENT_TOKEN):
            return None
        try:
            self._files.append(agent_id, path, note_block(text, when))
        except ToolError as exc:
            log.warning("memory flush could not write %s: %s", path, exc)
            return None
        return path
