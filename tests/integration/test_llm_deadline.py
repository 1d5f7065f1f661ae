"""A model that hangs costs one bounded wait, not attempts x timeout: the request deadline of
RoutedLLM and the stream cap of OpenAICompatProvider, against llmock's stalls."""

from __future__ import annotations

import anyio
import pytest

from rustyclaw.adapters.llm.openai_compat import OpenAICompatProvider
from rustyclaw.adapters.llm.routing import RetryPolicy, Route, RoutedLLM
from rustyclaw.config.llm import LLMConfig, ProviderConfig
from rustyclaw.domain.errors import LLMUnavailableError
from rustyclaw.domain.messages import ChatMessage
from rustyclaw.ports.llm import LLMRequest
from tests.fixtures.llm_servers import LLMockServer

pytestmark = pytest.mark.anyio
HELLO = LLMRequest(messages=[ChatMessage(role="user", content="hello")])


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def test_the_defaults_no_longer_allow_three_times_two_minutes() -> None:
    llm = LLMConfig()
    provider = ProviderConfig(base_url="http://localhost:1/v1")
    assert provider.timeout_seconds == 60
    assert llm.request_timeout_seconds == 180 < llm.retry.attempts * provider.timeout_seconds + 60


async def test_a_model_hanging_before_its_first_token_stops_at_the_request_deadline(
    mock_llm: LLMockServer,
) -> None:
    mock_llm.stream_fault("stall", after_chunks=0, stall_seconds=30, times=None)
    retry = RetryPolicy(attempts=6, initial_delay=0.01, max_delay=0.05, deadline=1.0)
    provider = OpenAICompatProvider("mock", mock_llm.base_url, timeout=0.4)
    async with RoutedLLM({"mock": provider}, {"default": Route("mock/m1")}, retry) as llm:
        with pytest.raises(LLMUnavailableError, match=r"llm\.requestTimeoutSeconds") as failed:
            await llm.complete(HELLO)
    # Each attempt waits 0.4 s for a first token: the deadline leaves room for three, not six.
    assert 1 <= len(mock_llm.requests()) <= 3
    assert "stalled" in str(failed.value)


async def test_one_stream_may_not_run_past_its_total_cap(mock_llm: LLMockServer) -> None:
    mock_llm.stream_fault("stall", after_chunks=2, stall_seconds=30)
    provider = OpenAICompatProvider("mock", mock_llm.base_url, stream_idle_timeout=20, total_timeout=0.5)
    async with provider:
        with anyio.fail_after(10), pytest.raises(LLMUnavailableError, match=r"took longer than 0\.5 s"):
            async for _ in provider.stream("m1", HELLO):
                pass
