"""The provider against a real llama.cpp server on SmolLM2: streaming, usage, a tool-call round trip.

The model is tiny, so these tests check the protocol and the flow, never its wording.
"""

from __future__ import annotations

import json

import pytest

from rustyclaw.adapters.llm import embedded_llama
from rustyclaw.adapters.llm.embedded_llama import EmbeddedLlamaServer, find_smollm2_model, probe
from rustyclaw.adapters.llm.openai_compat import OpenAICompatProvider
from rustyclaw.adapters.llm.routing import RetryPolicy, Route, RoutedLLM
from rustyclaw.domain.errors import LLMUnavailableError, MissingExtraError
from rustyclaw.domain.messages import ChatMessage
from rustyclaw.ports.llm import LLMRequest, LLMResult, TextDelta, ToolSpec
from tests.fixtures.llm_servers import strict_arguments

pytestmark = [pytest.mark.anyio, pytest.mark.llama]

# The call is forced from the real model: its city is bounded printable text, or llama.cpp's
# grammar would let the model write raw newlines into a string that never closes (issue #18).
WEATHER = ToolSpec(
    name="get_weather",
    description="Get the current weather for a city",
    parameters=strict_arguments(
        {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}),
)


def local_llm(base_url: str, model: str) -> RoutedLLM:
    providers = {"local": OpenAICompatProvider("local", base_url, timeout=120, stream_idle_timeout=60)}
    return RoutedLLM(providers, {"default": Route(f"local/{model}")},
                     RetryPolicy(attempts=2, initial_delay=0.05, max_delay=0.2))


async def test_streamed_reply_arrives_as_deltas_then_a_result(llama_server: str, llama_model: str) -> None:
    request = LLMRequest(messages=[ChatMessage(role="user", content="Say hello.")], max_tokens=16,
                         temperature=0.0)
    items: list[TextDelta | LLMResult] = []
    async with local_llm(llama_server, llama_model) as llm:
        async for item in llm.stream(request):
            items.append(item)
    *deltas, result = items
    assert len(deltas) > 1 and all(isinstance(d, TextDelta) for d in deltas)
    assert isinstance(result, LLMResult)
    assert result.message.content == "".join(d.text for d in deltas if isinstance(d, TextDelta))
    assert result.finish_reason in ("stop", "length")
    assert result.model == f"local/{llama_model}" and result.provider == "local"
    # llama-cpp-python's server sends no usage in streams; the adapter counts one token per chunk.
    assert 0 < result.usage.completion_tokens <= 16


async def test_tool_call_round_trip(llama_server: str, llama_model: str) -> None:
    ask = LLMRequest(
        messages=[
            ChatMessage(role="system", content="You can call tools."),
            ChatMessage(role="user", content="What is the weather in Paris?"),
        ],
        tools=(WEATHER,),
        tool_choice="get_weather",
        temperature=0.0,
        max_tokens=64,
    )
    async with local_llm(llama_server, llama_model) as llm:
        first = await llm.complete(ask)
        assert first.finish_reason == "tool_calls"
        (call,) = first.message.tool_calls
        assert call.name == "get_weather" and call.id
        arguments = json.loads(call.arguments)
        assert isinstance(arguments, dict) and isinstance(arguments.get("city"), str)

        tool_result = ChatMessage(role="tool", content='{"temperature_c": 14, "sky": "cloudy"}',
                                  tool_call_id=call.id, name=call.name)
        final = await llm.complete(LLMRequest(
            messages=[*ask.messages, first.message, tool_result], tools=(WEATHER,),
            temperature=0.0, max_tokens=32,
        ))
    assert final.finish_reason in ("stop", "length")
    assert final.message.content.strip() and not final.message.tool_calls


async def test_probe_sees_the_server_and_not_a_closed_port(llama_server: str, closed_port_url: str) -> None:
    assert await probe(llama_server)
    assert not await probe(closed_port_url)


def test_smollm2_model_is_found_without_importing_its_package() -> None:
    path = find_smollm2_model()
    assert path is not None and path.suffix == ".gguf" and path.stat().st_size > 1_000_000


async def test_failed_start_shows_the_servers_stderr() -> None:
    model = find_smollm2_model()
    assert model is not None
    server = EmbeddedLlamaServer(model, extra_args=("--n_ctx", "not-a-number"))
    with pytest.raises(LLMUnavailableError, match=r"(?s)exited with code [1-9].*not-a-number"):
        await server.start()
    assert not server.running


async def test_missing_llama_cpp_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embedded_llama, "llama_server_available", lambda: False)
    with pytest.raises(MissingExtraError, match=r"rustyclaw\[local\]"):
        await EmbeddedLlamaServer("/nonexistent.gguf").start()
