"""Builds memory (index, files, tools) and context maintenance (windows, compaction, flush) for the core.

The composition root calls `MemorySetup(...)` with settings objects, registers `tools`, runs
`start()`/`aclose()` in its lifecycle and gives `maintenance(...)` to the Gateway.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from rustyclaw.adapters.llm.embedded_llama import EmbeddedLlamaServer
from rustyclaw.adapters.llm.model_info import ServerWindowProbe
from rustyclaw.adapters.memory.files import WorkspaceMemoryFiles
from rustyclaw.adapters.memory.fts import FtsMemoryIndex
from rustyclaw.adapters.tools.memory import MemoryGetTool, MemorySearchTool
from rustyclaw.config.compaction import CompactionConfig, MemoryConfig
from rustyclaw.config.llm import EMBEDDED_PROVIDER as CONFIG_EMBEDDED_PROVIDER
from rustyclaw.config.llm import LLMConfig
from rustyclaw.domain.agent import AgentRunner
from rustyclaw.domain.compaction import CompactionSettings, MemoryFlushSettings
from rustyclaw.domain.compactor import Compactor
from rustyclaw.domain.context import ContextBuilder
from rustyclaw.domain.maintenance import ContextMaintenance, ContextWindows
from rustyclaw.domain.memory import MemoryFlusher, MemorySettings
from rustyclaw.domain.sessions import SessionService
from rustyclaw.ports.archive import TranscriptArchive
from rustyclaw.ports.clock import Clock
from rustyclaw.ports.llm import LLMClient
from rustyclaw.ports.model_info import ContextWindowProbe
from rustyclaw.ports.session_store import SessionStore
from rustyclaw.ports.tools import Tool
from rustyclaw.settings_map import secret_value

INDEX_FILE = Path("memory") / "index.sqlite"
EMBEDDED_POOL = CONFIG_EMBEDDED_PROVIDER  # routes name the pool's models `embedded/<alias>`


def compaction_settings(cfg: CompactionConfig) -> CompactionSettings:
    flush = cfg.memory_flush
    return CompactionSettings(
        enabled=cfg.enabled, reserve_tokens=cfg.reserve_tokens, reserve_tokens_floor=cfg.reserve_tokens_floor,
        keep_recent_tokens=cfg.keep_recent_tokens, summary_max_tokens=cfg.summary_max_tokens, model=cfg.model,
        timeout_seconds=cfg.timeout_seconds,
        memory_flush=MemoryFlushSettings(enabled=flush.enabled, soft_threshold_tokens=flush.soft_threshold_tokens,
                                         model=flush.model),
    )


def memory_settings(cfg: MemoryConfig) -> MemorySettings:
    return MemorySettings(enabled=cfg.enabled, sources=tuple(cfg.sources), max_results=cfg.max_results,
                          min_score=cfg.min_score, get_max_chars=cfg.get_max_chars)


def window_probe(llm: LLMConfig, embedded: EmbeddedLlamaServer | None, embedded_provider: str) -> ServerWindowProbe:
    """Asks each configured provider's server, unless `llm.contextTokens` is set to something other
    than its default (the user's word wins, as OpenClaw's config overrides its model catalog; the
    default, which config/default.yaml also states, means "not known"); the embedded server's window
    is the n_ctx RustyClaw started it with (llama-cpp-python's server does not say it). Credentials
    go only to their own provider's server."""
    explicit = llm.context_tokens != LLMConfig.model_fields["context_tokens"].default
    base_urls = {} if explicit else {name: provider.base_url for name, provider in llm.providers.items()}
    headers: dict[str, dict[str, str]] = {}
    for name, provider in llm.providers.items():
        key = secret_value(provider.api_key)
        if key:
            headers[name] = {"authorization": f"Bearer {key}"}
    # The embedded pool (llm.embedded.models) runs each alias with llm.embedded.contextSize.
    known: dict[str, int] = {f"{EMBEDDED_POOL}/{alias}": llm.embedded.context_size for alias in llm.embedded.models}
    if embedded is not None:
        base_urls[embedded_provider] = embedded.base_url
        known[f"{embedded_provider}/{embedded.model_alias}"] = embedded.n_ctx
    return ServerWindowProbe(base_urls, known=known, headers=headers)


class MemorySetup:
    def __init__(
        self,
        state_dir: Path,
        folder_of: Callable[[str], Path],
        store: SessionStore,
        archive: TranscriptArchive | None,
        memory: MemorySettings,
        compaction: CompactionSettings,
        main_key: str = "main",
    ) -> None:
        self.memory = memory
        self.compaction = compaction
        self.files = WorkspaceMemoryFiles(folder_of)
        self.index = FtsMemoryIndex(state_dir / INDEX_FILE, self.files, store, archive)
        self.tools: list[Tool] = []
        if memory.enabled:
            self.tools = [
                MemorySearchTool(self.index, memory, main_key),
                MemoryGetTool(self.files, memory, store=store, archive=archive, main_key=main_key),
            ]

    async def start(self) -> None:
        if self.memory.enabled:
            await self.index.start()

    async def aclose(self) -> None:
        await self.index.aclose()

    def maintenance(
        self,
        sessions: SessionService,
        llm: LLMClient,
        context: ContextBuilder,
        clock: Clock,
        runner: AgentRunner,
        probe: ContextWindowProbe | None,
        default_window: int,
    ) -> ContextMaintenance:
        settings = self.compaction
        flusher = MemoryFlusher(llm, context, self.files, settings.memory_flush, settings.timeout_seconds)
        return ContextMaintenance(
            sessions, Compactor(llm, context, settings), context, ContextWindows(probe, default_window, clock),
            clock, runner.stamp, flusher,
        )
