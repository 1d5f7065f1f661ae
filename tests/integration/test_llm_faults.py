"""OpenAICompatProvider and RoutedLLM against llmock: scripted replies, HTTP errors, broken streams."""

from __future__ import annotations

import json
import logging

import anyio
import pytest

from rustyclaw.adapters.llm.openai_compat import OpenAICompatProvider
from rustyclaw.adapters.llm.routing import RetryPolicy, Route, RoutedLLM
from rustyclaw.domain.errors import LLMRequestError, LLMServerError, LLMUnavailableError
from rustyclaw.domain.messages import ChatMessage
from rustyclaw.ports.llm import LLMRequest, LLMResult, TextDelta, ToolSpec
from tests.fixtures.llm_servers import LLMockServer

pytestmark = pytest.mark.anyio

FAST_RETRY = RetryPolicy(attempts=3, initial_delay=0.01, max_delay=0.2, jitter=0.1)
HELLO = LLMRequest(messages=[ChatMessage(role="user", content="hello")])
WEATHER = ToolSpec(
    name="get_weather",
    description="Current weather for a city",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)


class CountingSleep:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        await anyio.sleep(seconds)


def provider(name: str, base_url: str, **options: float) -> OpenAICompatProvider:
    return OpenAICompatProvider(name, base_url, api_key="sk-test-secret", **options)  # type: ignore[arg-type]


def routed(route: Route, *providers: OpenAICompatProvider, sleep: CountingSleep | None = None) -> RoutedLLM:
    return RoutedLLM({p.name: p for p in providers}, {"default": route}, FAST_RETRY,
                     sleep=sleep or CountingSleep())


async def run(llm: RoutedLLM, request: LLMRequest = HELLO) -> tuple[list[str], LLMResult]:
    texts: list[str] = []
    result: LLMResult | None = None
    try:
        async for item in llm.stream(request):
            if isinstance(item, TextDelta):
                texts.append(item.text)
            else:
                result = item
    finally:
        await llm.aclose()
    assert result is not None
    return texts, result


async def test_scripted_reply_streams_deltas_and_usage(mock_llm: LLMockServer) -> None:
    mock_llm.reply("one two three four")
    texts, result = await run(routed(Route("mock/m1"), provider("mock", mock_llm.base_url)))
    assert len(texts) > 1 and "".join(texts) == "one two three four"
    assert result.message.content == "one two three four" and result.message.role == "assistant"
    assert result.finish_reason == "stop" and result.model == "mock/m1" and result.provider == "mock"
    assert result.usage.completion_tokens > 0  # llmock honours stream_options.include_usage
    (record,) = mock_llm.requests()
    assert record["body"]["stream"] is True and record["body"]["stream_options"] == {"include_usage": True}


async def test_rate_limit_then_success_waits_for_retry_after(mock_llm: LLMockServer) -> None:
    mock_llm.fail(429, retry_after=0.05)
    sleep = CountingSleep()
    _, result = await run(routed(Route("mock/m1"), provider("mock", mock_llm.base_url), sleep=sleep))
    assert result.finish_reason == "stop"
    assert mock_llm.statuses() == [429, 200]
    assert sleep.delays[0] >= 0.05
    verdict = mock_llm.verdict()
    assert verdict["passed"], verdict["findings"]


async def test_two_server_errors_then_success(mock_llm: LLMockServer) -> None:
    mock_llm.fail(500, times=2)
    sleep = CountingSleep()
    _, result = await run(routed(Route("mock/m1"), provider("mock", mock_llm.base_url), sleep=sleep))
    assert result.message.content
    assert mock_llm.statuses() == [500, 500, 200]
    assert len(sleep.delays) == 2 and sleep.delays[1] > sleep.delays[0]  # the backoff doubles


async def test_persistent_server_error_moves_to_the_fallback_model(mock_llm: LLMockServer) -> None:
    mock_llm.fail(500, times=None, model="broken")
    llm = routed(Route("mock/broken", ("mock/healthy",)), provider("mock", mock_llm.base_url))
    _, result = await run(llm)
    assert result.model == "mock/healthy"
    assert mock_llm.models_requested() == ["broken", "broken", "broken", "healthy"]


async def test_missing_model_404_falls_back_at_once(mock_llm: LLMockServer) -> None:
    mock_llm.fail(404, times=None, model="ghost", message="The model 'ghost' does not exist")
    sleep = CountingSleep()
    _, result = await run(routed(Route("mock/ghost", ("mock/real",)), provider("mock", mock_llm.base_url),
                                 sleep=sleep))
    assert result.model == "mock/real" and sleep.delays == []
    assert mock_llm.models_requested() == ["ghost", "real"]


async def test_connection_refused_retries_then_falls_back(
    mock_llm: LLMockServer, closed_port_url: str
) -> None:
    sleep = CountingSleep()
    llm = routed(Route("down/m1", ("mock/m2",)), provider("down", closed_port_url),
                 provider("mock", mock_llm.base_url), sleep=sleep)
    _, result = await run(llm)
    assert result.provider == "mock" and result.model == "mock/m2"
    assert len(sleep.delays) == FAST_RETRY.attempts - 1  # the closed port was tried `attempts` times


async def test_connection_refused_everywhere_is_unavailable(closed_port_url: str) -> None:
    llm = routed(Route("down/m1"), provider("down", closed_port_url))
    with pytest.raises(LLMUnavailableError, match=r"down/m1 x3.*cannot connect"):
        await run(llm)


async def test_bad_request_surfaces_the_servers_message_without_retrying(mock_llm: LLMockServer) -> None:
    mock_llm.fail(400, message="messages[0].content is too long", times=None)
    with pytest.raises(LLMRequestError, match=r"HTTP 400: messages\[0\]\.content is too long"):
        await run(routed(Route("mock/m1"), provider("mock", mock_llm.base_url)))
    assert mock_llm.statuses() == [400]


async def test_stream_cut_after_text_raises_without_retry(mock_llm: LLMockServer) -> None:
    mock_llm.reply("alpha beta gamma delta").stream_fault("disconnect", after_chunks=2)
    shown: list[str] = []
    async with routed(Route("mock/m1", ("mock/m2",)), provider("mock", mock_llm.base_url)) as llm:
        with pytest.raises(LLMServerError, match=r"connection broke|cut"):
            async for item in llm.stream(HELLO):
                if isinstance(item, TextDelta):
                    shown.append(item.text)
    assert shown  # part of the answer reached the caller, so nothing was retried
    assert len(mock_llm.requests()) == 1


async def test_stream_truncated_before_any_text_is_retried(mock_llm: LLMockServer) -> None:
    mock_llm.stream_fault("truncate", after_chunks=1)  # only the role chunk, then a clean end
    _, result = await run(routed(Route("mock/m1"), provider("mock", mock_llm.base_url)))
    assert result.finish_reason == "stop"
    assert len(mock_llm.requests()) == 2


async def test_truncated_stream_is_a_server_error(mock_llm: LLMockServer) -> None:
    mock_llm.reply("alpha beta gamma delta").stream_fault("truncate", after_chunks=3)
    texts: list[str] = []
    async with provider("mock", mock_llm.base_url) as mock:
        with pytest.raises(LLMServerError, match="before its finish reason"):
            async for item in mock.stream("m1", HELLO):
                if isinstance(item, TextDelta):
                    texts.append(item.text)
    assert texts  # the early part arrived before the stream ended


async def test_provider_complete_reads_the_stream(mock_llm: LLMockServer) -> None:
    mock_llm.reply("whole answer")
    async with provider("mock", mock_llm.base_url) as mock:
        result = await mock.complete("m1", HELLO)
    assert result.message.content == "whole answer" and result.finish_reason == "stop"


async def test_stalled_stream_is_unavailable_after_the_idle_timeout(mock_llm: LLMockServer) -> None:
    mock_llm.stream_fault("stall", after_chunks=2, stall_seconds=30)
    async with provider("mock", mock_llm.base_url, stream_idle_timeout=0.3) as mock:
        with pytest.raises(LLMUnavailableError, match="stalled"):
            async for _ in mock.stream("m1", HELLO):
                pass


async def test_stall_before_text_is_retried(mock_llm: LLMockServer) -> None:
    mock_llm.stream_fault("stall", after_chunks=1, stall_seconds=60)
    # The retry must then stream normally: its idle cap leaves room for a loaded machine.
    llm = routed(Route("mock/m1"), provider("mock", mock_llm.base_url, stream_idle_timeout=3))
    _, result = await run(llm)
    assert result.message.content and len(mock_llm.requests()) == 2


async def test_malformed_chunk_is_not_accepted(mock_llm: LLMockServer) -> None:
    mock_llm.stream_fault("malformed", after_chunks=1)
    _, result = await run(routed(Route("mock/m1"), provider("mock", mock_llm.base_url)))
    assert result.message.content and len(mock_llm.requests()) == 2


async def test_streamed_tool_call_is_assembled_and_its_result_goes_back(mock_llm: LLMockServer) -> None:
    mock_llm.call_tool("get_weather", {"city": "Paris", "units": "metric"})
    mock_llm.reply("It is mild in Paris.")
    ask = LLMRequest(messages=[ChatMessage(role="user", content="Weather in Paris?")], tools=(WEATHER,))
    async with routed(Route("mock/m1"), provider("mock", mock_llm.base_url)) as llm:
        first = await llm.complete(ask)
        assert first.finish_reason == "tool_calls"
        (call,) = first.message.tool_calls
        assert call.name == "get_weather" and call.id
        assert json.loads(call.arguments) == {"city": "Paris", "units": "metric"}

        result = ChatMessage(role="tool", content='{"temp_c": 14}', tool_call_id=call.id, name=call.name)
        final = await llm.complete(
            LLMRequest(messages=[*ask.messages, first.message, result], tools=(WEATHER,))
        )
    assert final.finish_reason == "stop" and final.message.content == "It is mild in Paris."
    sent = mock_llm.requests()[-1]["body"]["messages"]
    assert sent[1]["tool_calls"][0]["id"] == call.id
    assert sent[1]["tool_calls"][0]["function"] == {"name": "get_weather", "arguments": call.arguments}
    assert sent[2]["role"] == "tool" and sent[2]["tool_call_id"] == call.id
    assert all(isinstance(message["content"], str) for message in sent)


async def test_api_key_is_never_logged(mock_llm: LLMockServer, caplog: pytest.LogCaptureFixture) -> None:
    mock_llm.fail(500)
    mock = provider("mock", mock_llm.base_url)
    with caplog.at_level(logging.DEBUG):
        _, result = await run(routed(Route("mock/m1"), mock))
    assert result.message.content
    assert "mock" in caplog.text and "m1" in caplog.text
    assert "sk-test-secret" not in caplog.text and "sk-test-secret" not in repr(mock)
    assert "hello" not in caplog.text  # message text stays out of the logs
