"""A summary that fails (HTTP 500) or is cut (a truncated or dropped stream) loses nothing and the
turn still answers; the next turn compacts once the model behaves (llmock plays the model)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rustyclaw.adapters.storage.sqlite import SQLiteStore
from rustyclaw.domain.compaction import COMPACTION_META, CompactionSettings, MemoryFlushSettings
from tests.fixtures.llm_servers import LLMockServer
from tests.integration.memory_kit import MovableClock, build

pytestmark = pytest.mark.anyio

SETTINGS = CompactionSettings(reserve_tokens=500, reserve_tokens_floor=0, keep_recent_tokens=200,
                              summary_max_tokens=200, memory_flush=MemoryFlushSettings(enabled=False))


def question(i: int) -> str:
    return f"Question {i} about item {i}. " + "Some filler words to make the turn longer than a few tokens. " * 4


@pytest.mark.parametrize("fault", ["http500", "truncate", "disconnect"])
async def test_failed_summary_loses_nothing_and_the_turn_answers(
    tmp_path: Path, mock_llm: LLMockServer, fault: str
) -> None:
    store = SQLiteStore(tmp_path / "state" / "rustyclaw.db")
    await store.start()
    clock = MovableClock(1_764_633_600.0)
    mock_llm.reply("Noted.", times=None)
    roomy = await build(tmp_path, store, mock_llm.base_url, window=4000, compaction=SETTINGS, clock=clock)
    for i in range(6):
        assert (await roomy.say(question(i))).text == "Noted."
    await roomy.aclose()
    before = [m.id for m in await roomy.transcript()]
    assert len(before) == 12

    # The same session on a model with a smaller window: the next turn must compact first.
    kit = await build(tmp_path, store, mock_llm.base_url, window=1000, compaction=SETTINGS, clock=clock)
    mock_llm.reset()
    # Both tries of the summary request fail (FAST_RETRY makes two); the turn's own request works.
    if fault == "http500":
        mock_llm.fail(500, times=2)
    else:
        mock_llm.stream_fault(fault, after_chunks=1, times=2)
    mock_llm.reply("Noted.", times=None)
    try:
        reply = await kit.say("and the next question?")
        assert reply.finish_reason == "stop" and reply.text == "Noted."
        after = await kit.transcript()
        assert [m.id for m in after[:12]] == before  # nothing lost
        assert len(after) == 14 and not any(m.meta.get(COMPACTION_META) for m in after)
        records = mock_llm.requests()
        assert len(records) == 3 and records[0]["body"]["messages"][0]["content"].startswith("You write the running")
        # The model behaves again: the next turn compacts, and still nothing is removed.
        assert (await kit.say("one more")).text == "Noted."
        final = await kit.transcript()
        assert [m.id for m in final[:14]] == [m.id for m in after]
        assert sum(bool(m.meta.get(COMPACTION_META)) for m in final) == 1
    finally:
        await kit.aclose()
        await store.aclose()
