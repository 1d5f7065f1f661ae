"""The embedded model's 4,096-token window is respected (real llama.cpp server on SmolLM2).

The old failure: with the configured 128k default, one 12,800-character paste broke the session for
good (every later turn failed until /new). Now the paste is answered or refused with a clear "too
long", and the next message is answered. Two ways to know the window: the root registers the
embedded server's n_ctx with the probe ("probed", the 12,800-character paste), or nothing is known
and the server's overflow error teaches it ("learned": llama-cpp-python refuses only a prompt that
alone exceeds n_ctx, so that paste is 24,000 characters, with gateway.maxMessageChars raised to let
it in; a 12,800 one fits the model's own count and would merely be answered, slowly). The tiny
model's wording is never asserted, only the flow.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rustyclaw.adapters.llm.model_info import ServerWindowProbe
from rustyclaw.adapters.llm.openai_compat import OpenAICompatProvider
from rustyclaw.adapters.storage.sqlite import SQLiteStore
from rustyclaw.domain.compaction import CompactionSettings, MemoryFlushSettings
from rustyclaw.domain.errors import ContextOverflowError
from rustyclaw.domain.messages import ChatMessage
from rustyclaw.ports.llm import LLMRequest
from tests.integration.memory_kit import build

pytestmark = [pytest.mark.anyio, pytest.mark.llama, pytest.mark.slow]

PARAGRAPH = (
    "Our quarterly report covers the warehouse in Lisbon, the delivery vans, the new billing system "
    "and the customer survey. Sales grew in the north, fell slightly in the south, and the team asks "
    "for two more drivers before the winter peak. The survey praised punctual deliveries but found "
    "the invoices hard to read, so finance will redesign them. "
)
def paste(chars: int) -> str:
    return (PARAGRAPH * (chars // len(PARAGRAPH) + 1))[:chars]

SETTINGS = CompactionSettings(summary_max_tokens=128, memory_flush=MemoryFlushSettings(enabled=False))


@pytest.mark.parametrize(("how", "chars"), [("probed", 12_800), ("learned", 24_000)])
async def test_long_paste_is_answered_or_refused_and_the_session_keeps_working(
    tmp_path: Path, llama_server: str, llama_model: str, how: str, chars: int
) -> None:
    text = paste(chars)
    ref = f"local/{llama_model}"
    probe = ServerWindowProbe({"local": llama_server}, known={ref: 4096}) if how == "probed" else None
    store = SQLiteStore(tmp_path / "state" / "rustyclaw.db")
    await store.start()
    # The configured window is the 128k default and the completion reserve the default 1,024: the
    # paste plus the reserve overflow 4,096, as in the old failure.
    kit = await build(tmp_path, store, llama_server, model=llama_model, provider="local", window=128_000,
                      max_completion=1024, compaction=SETTINGS, probe=probe, max_message_chars=32_000)
    try:
        pasted = await kit.say(text)
        assert pasted.error is None or "too long" in pasted.error
        if pasted.finish_reason in ("too_long", "error"):
            assert "too long" in pasted.text and "4096" in pasted.text
        else:
            assert pasted.finish_reason in ("stop", "length") and pasted.text.strip()
        after = await kit.say("Thanks. Now just say hello.")
        assert after.error is None, after.error
        assert after.finish_reason in ("stop", "length") and after.text.strip()
        again = await kit.say("And hello once more.")
        assert again.error is None and again.text.strip()
        stored = await kit.transcript()
        assert stored[0].content == text  # accepted and kept, whether or not the model read it
        status = await kit.say("/status")
        if how == "probed" or pasted.finish_reason == "error":
            assert "of 4096" in status.text  # the real window, probed or taught by the overflow error
    finally:
        await kit.aclose()
        await store.aclose()


async def test_llama_cpp_python_overflow_names_the_window(llama_server: str, llama_model: str) -> None:
    """Streamed, llama-cpp-python answers an over-long prompt with an empty 200 stream; the provider
    asks again without streaming and gets the 400 that names the window."""
    provider = OpenAICompatProvider("local", llama_server, timeout=120)
    request = LLMRequest(messages=[ChatMessage(role="user", content=paste(24_000))], max_tokens=16)
    try:
        with pytest.raises(ContextOverflowError) as caught:
            async for _ in provider.stream(llama_model, request):
                pass
    finally:
        await provider.aclose()
    assert caught.value.window == 4096 and caught.value.reported is not None and caught.value.reported > 4096
