"""`llm.cache`: keeping recently used models loaded, so switching between them costs no load.

    llm:
      cache: {maxLoaded: 2, idleUnloadSeconds: 600, keepAlive: 30m, preload: [embedded/qwen-coder]}
      embedded:
        models: {smollm2: ~/models/SmolLM2-135M-Instruct.Q4_1.gguf, coder: ~/models/coder.gguf}

- The embedded llama.cpp (`llm.embedded.models`, routes name `embedded/<alias>`): one server per
  model, at most `maxLoaded` at once (the least recently used idle one is stopped first), each
  stopped after `idleUnloadSeconds` unused (null: never).
- Ollama: `preload` refs on an Ollama provider are loaded at start with `keepAlive` (Ollama's own
  `keep_alive`: how long it keeps a model after its last request), and every chat request to an
  Ollama provider (`llm.providers.<name>.kind`) carries it too: without it each request would reset
  the model's stay to Ollama's own default (5 minutes) and a preloaded model would be dropped.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from rustyclaw.config.base import ModelRef, Section, matching

# Ollama's keep_alive spelling: a number and a unit (s, m, h).
KeepAlive = Annotated[str, matching(r"^\d+[smh]$", "should be a number and a unit: s, m or h (e.g. 30m)")]


class CacheConfig(Section):
    max_loaded: int = Field(2, ge=1, le=16)
    idle_unload_seconds: float | None = Field(600.0, gt=0)
    keep_alive: KeepAlive = "30m"
    preload: list[ModelRef] = Field(default_factory=list)
