"""`agents.compaction` (OpenClaw's `agents.defaults.compaction`) and `memory` (search over memory)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from rustyclaw.config.base import ModelRef, Section, section


class MemoryFlushConfig(Section):
    """The silent pre-compaction turn that writes durable notes to memory/YYYY-MM-DD.md."""

    enabled: bool = True
    # Flush once the context is within this many tokens of the compaction threshold.
    soft_threshold_tokens: int = Field(4000, ge=0)
    # An exact provider/model for the flush only (no fallback chain); None: the session's model.
    model: ModelRef | None = None


class CompactionConfig(Section):
    """When and how older turns are summarised; the store always keeps every message."""

    # false: no threshold compaction (overflow recovery and /compact still work).
    enabled: bool = True
    # Headroom kept below the model's window; raised to reserveTokensFloor, capped at half the window.
    reserve_tokens: int = Field(16_384, ge=0)
    reserve_tokens_floor: int = Field(20_000, ge=0)
    # The recent tail kept verbatim (capped at half the threshold on small models).
    keep_recent_tokens: int = Field(20_000, ge=1)
    # The bound of each summary request (max_tokens), capped at a quarter of the window.
    summary_max_tokens: int = Field(1024, ge=64)
    model: ModelRef | None = None
    timeout_seconds: float = Field(180.0, gt=0)
    memory_flush: MemoryFlushConfig = section()


MemorySourceName = Literal["memory", "sessions"]


def _all_sources() -> list[MemorySourceName]:
    return ["memory", "sessions"]


class MemoryConfig(Section):
    """`memory_search` / `memory_get` over MEMORY.md, memory/*.md and (optionally) past transcripts."""

    enabled: bool = True
    sources: list[MemorySourceName] = Field(default_factory=_all_sources, min_length=1)
    max_results: int = Field(6, ge=1, le=50)
    # Scores are relative to the best hit of a query (BM25 keyword search); 0 keeps every match.
    min_score: float = Field(0.0, ge=0, le=1)
    get_max_chars: int = Field(12_000, ge=100)
