"""Several embedded GGUF models kept warm: one llama.cpp server per model, started on first use.

`llm.cache` for the embedded llama.cpp: at most `max_loaded` servers run at once; a request for a
model that is not loaded starts its server, first stopping the least recently used idle one when
the pool is full; a server unused for `idle_unload_seconds` is stopped by `unload_idle` (the
`run_idle_unload` service calls it). A request for a loaded model goes straight to its running
server: switching between warm models costs no load.

It is a routing Provider (adapters/llm/routing.py): a route names `<provider>/<alias>`.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import AsyncGenerator, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import anyio

from rustyclaw.adapters.llm.embedded_llama import EmbeddedLlamaServer
from rustyclaw.adapters.llm.openai_compat import OpenAICompatProvider
from rustyclaw.domain.errors import LLMUnavailableError
from rustyclaw.ports.llm import LLMRequest, LLMResult, TextDelta

log = logging.getLogger("rustyclaw.llm")


@dataclass(frozen=True, slots=True)
class PooledModel:
    alias: str
    path: Path
    n_ctx: int = 4096


@dataclass(frozen=True, slots=True)
class LoadedModel:
    alias: str
    loaded_at: float
    last_used: float
    in_use: int


class ModelServer(Protocol):
    @property
    def base_url(self) -> str: ...

    async def start(self) -> None: ...

    async def aclose(self, grace: float = 5.0) -> None: ...


ServerFactory = Callable[[PooledModel], ModelServer]


def llama_server_for(model: PooledModel) -> ModelServer:
    return EmbeddedLlamaServer(model.path, n_ctx=model.n_ctx, model_alias=model.alias)


class _Slot:
    def __init__(self, server: ModelServer, client: OpenAICompatProvider, now: float) -> None:
        self.server = server
        self.client = client
        self.loaded_at = now
        self.last_used = now
        self.in_use = 0


class EmbeddedModelPool:
    def __init__(
        self, name: str, models: Mapping[str, PooledModel], *, max_loaded: int = 2,
        idle_unload_seconds: float | None = 600.0, clock: Callable[[], float] = time.monotonic,
        server_factory: ServerFactory = llama_server_for, stream_idle_timeout: float = 60.0,
    ) -> None:
        if max_loaded < 1:
            raise ValueError("max_loaded must be at least 1")
        self.name = name
        self._models = dict(models)
        self._max = max_loaded
        self._idle = idle_unload_seconds
        self._clock = clock
        self._factory = server_factory
        self._stream_idle = stream_idle_timeout
        self._slots: OrderedDict[str, _Slot] = OrderedDict()  # least recently used first
        self._lock = anyio.Lock()  # one start or stop at a time: never two servers for one model
        self.starts = 0  # servers started so far (the benchmark and tests read it)

    @property
    def models(self) -> tuple[str, ...]:
        return tuple(self._models)

    def loaded(self) -> list[LoadedModel]:
        """The running servers, least recently used first."""
        return [LoadedModel(alias, s.loaded_at, s.last_used, s.in_use) for alias, s in self._slots.items()]

    async def start(self) -> None:
        return None  # servers start on first use (or `preload`)

    async def preload(self, aliases: tuple[str, ...]) -> None:
        for alias in aliases[: self._max]:
            await self._acquire(alias, hold=False)

    async def aclose(self) -> None:
        async with self._lock:
            while self._slots:
                alias, slot = self._slots.popitem(last=False)
                await self._stop(alias, slot)

    async def stream(self, model: str, request: LLMRequest) -> AsyncGenerator[TextDelta | LLMResult, None]:
        slot = await self._acquire(model, hold=True)
        try:
            async for item in slot.client.stream(model, request):
                yield item
        finally:
            slot.in_use -= 1
            slot.last_used = self._clock()

    async def _acquire(self, alias: str, *, hold: bool) -> _Slot:
        spec = self._models.get(alias)
        if spec is None:
            raise LLMUnavailableError(f"no embedded model {alias!r} (configured: {', '.join(self._models)})")
        async with self._lock:
            slot = self._slots.get(alias)
            if slot is None:
                await self._make_room()
                server = self._factory(spec)
                log.info("loading embedded model %s (%s)", alias, spec.path.name)
                await server.start()
                client = OpenAICompatProvider(self.name, server.base_url, timeout=600,
                                              stream_idle_timeout=self._stream_idle)
                await client.start()
                slot = _Slot(server, client, self._clock())
                self._slots[alias] = slot
                self.starts += 1
            self._slots.move_to_end(alias)
            slot.last_used = self._clock()
            if hold:
                slot.in_use += 1
            return slot

    async def _make_room(self) -> None:
        while len(self._slots) >= self._max:
            idle = next((a for a, s in self._slots.items() if s.in_use == 0), None)
            if idle is None:
                # Every loaded model is answering now: one more runs over the limit until they end.
                log.warning("all %d embedded models are busy; loading one more over llm.cache.maxLoaded", self._max)
                return
            log.info("unloading embedded model %s (least recently used; llm.cache.maxLoaded %d)", idle, self._max)
            await self._stop(idle, self._slots.pop(idle))

    async def unload_idle(self, now: float | None = None) -> list[str]:
        """Stops every server unused for `idle_unload_seconds`; returns their aliases."""
        if self._idle is None:
            return []
        moment = self._clock() if now is None else now
        async with self._lock:
            stale = [a for a, s in self._slots.items() if s.in_use == 0 and moment - s.last_used >= self._idle]
            for alias in stale:
                log.info("unloading embedded model %s (idle %.0f s)", alias, moment - self._slots[alias].last_used)
                await self._stop(alias, self._slots.pop(alias))
        return stale

    async def run_idle_unload(self, ready: Callable[[], None]) -> None:
        ready()
        idle = self._idle
        if idle is None:
            await anyio.sleep_forever()
            return
        while True:
            # A periodic sweep, not a wait for an event: idleness is the absence of events.
            await anyio.sleep(max(1.0, min(idle / 4, 30.0)))
            await self.unload_idle()

    async def _stop(self, alias: str, slot: _Slot) -> None:
        with anyio.CancelScope(shield=True):
            await slot.client.aclose()
            await slot.server.aclose()
