"""The memory setup's mapping from config, and the window probe it builds for the root."""

from __future__ import annotations

from pathlib import Path

import pytest

from rustyclaw.adapters.llm.embedded_llama import EmbeddedLlamaServer
from rustyclaw.config.compaction import CompactionConfig, MemoryConfig
from rustyclaw.config.llm import LLMConfig
from rustyclaw.memory_setup import compaction_settings, memory_settings, window_probe


def test_settings_follow_the_config() -> None:
    compaction = compaction_settings(CompactionConfig.model_validate({
        "keepRecentTokens": 900, "model": "ollama/qwen",
        "memoryFlush": {"enabled": False, "softThresholdTokens": 10},
    }))
    assert compaction.keep_recent_tokens == 900 and compaction.model == "ollama/qwen"
    assert not compaction.memory_flush.enabled and compaction.memory_flush.soft_threshold_tokens == 10
    memory = memory_settings(MemoryConfig.model_validate({"sources": ["memory"], "maxResults": 3}))
    assert memory.sources == ("memory",) and memory.max_results == 3


@pytest.mark.anyio
async def test_probe_knows_the_embedded_window_and_keeps_keys_to_their_provider() -> None:
    llm = LLMConfig.model_validate({
        "providers": {"vllm": {"baseUrl": "http://10.0.0.5:8000/v1", "apiKey": "sk-secret-value"},
                      "ollama": {"baseUrl": "http://localhost:11434/v1"}},
        "routes": {"default": {"primary": "ollama/llama3.2"}},
        "embedded": {"contextSize": 3072, "models": {"tiny": "/models/tiny.gguf"}},
    })
    server = EmbeddedLlamaServer(Path("/nonexistent.gguf"), port=40123, n_ctx=2048, model_alias="smollm2")
    probe = window_probe(llm, server, "local")
    assert await probe.context_window("local/smollm2") == 2048
    assert await probe.context_window("embedded/tiny") == 3072  # the embedded pool's contextSize
    assert probe._base_urls["local"] == "http://127.0.0.1:40123/v1"
    assert probe._headers == {"vllm": {"authorization": "Bearer sk-secret-value"}}
    # An explicit llm.contextTokens is the user's word: servers are not asked, the embedded one is known.
    explicit = window_probe(LLMConfig.model_validate({**llm.model_dump(by_alias=True), "contextTokens": 8192}),
                            server, "local")
    assert explicit._base_urls == {"local": "http://127.0.0.1:40123/v1"}
    assert await explicit.context_window("vllm/m") is None and await explicit.context_window("local/smollm2") == 2048
