"""The SSE decoder and the OpenAI wire format: request bodies, chunk assembly, error bodies."""

from __future__ import annotations

import json

from rustyclaw.adapters.llm.sse import SSEDecoder, SSEEvent
from rustyclaw.adapters.llm.wire import StreamAssembler, error_message, request_body
from rustyclaw.domain.messages import ChatMessage, ToolCall, Usage
from rustyclaw.ports.llm import LLMRequest, ToolSpec


def decode(lines: list[str]) -> list[SSEEvent]:
    decoder = SSEDecoder()
    events = [event for line in lines if (event := decoder.feed(line)) is not None]
    last = decoder.flush()
    return [*events, last] if last is not None else events


def test_sse_data_lines_comments_and_multi_line_events() -> None:
    events = decode([
        ": keepalive", "",
        "data: {\"a\": 1}", "",
        "event: delta", "id: 7", "data:first", "data: second", "retry: 10", "",
        "data: [DONE]", "",
    ])
    assert events == [
        SSEEvent(data='{"a": 1}'),
        SSEEvent(data="first\nsecond", event="delta", id="7"),
        SSEEvent(data="[DONE]", id="7"),  # the last event id carries over, as the spec says
    ]


def test_sse_only_one_leading_space_is_stripped_and_blank_events_are_dropped() -> None:
    assert decode(["data:  two spaces", "", "event: ping", "", "data", ""]) == [
        SSEEvent(data=" two spaces"), SSEEvent(data=""),
    ]


def test_sse_unterminated_last_event_is_kept_on_flush() -> None:
    assert decode(["data: [DONE]"]) == [SSEEvent(data="[DONE]")]


def test_request_body_sends_plain_string_content_and_openai_tool_shapes() -> None:
    call = ToolCall(id="call_1", name="get_weather", arguments='{"city": "Paris"}')
    request = LLMRequest(
        messages=[
            ChatMessage(role="system", content="be brief"),
            ChatMessage(role="user", content="weather?", name="ann"),
            ChatMessage(role="assistant", tool_calls=(call,)),
            ChatMessage(role="tool", content="21C", tool_call_id="call_1", name="get_weather"),
        ],
        tools=(ToolSpec(name="get_weather", description="Weather", parameters={"type": "object"}),),
        tool_choice="get_weather",
        temperature=0.0,
        max_tokens=20,
    )
    body = request_body("m", request)
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert all(isinstance(m["content"], str) for m in body["messages"])
    assert body["messages"][2] == {
        "role": "assistant", "content": "",
        "tool_calls": [{"id": "call_1", "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}],
    }
    assert body["messages"][3] == {"role": "tool", "content": "21C", "tool_call_id": "call_1",
                                   "name": "get_weather"}
    assert body["tools"][0]["function"]["name"] == "get_weather"
    assert body["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert body["temperature"] == 0.0 and body["max_tokens"] == 20
    json.dumps(body)


def test_request_body_omits_tool_choice_without_tools_and_keeps_keywords() -> None:
    body = request_body("m", LLMRequest(messages=[], tool_choice="auto"))
    assert "tools" not in body and "tool_choice" not in body
    body = request_body("m", LLMRequest(messages=[], tools=(ToolSpec(name="t", description=""),),
                                        tool_choice="required"))
    assert body["tool_choice"] == "required"


def chunk(delta: dict[str, object], finish: str | None = None) -> dict[str, object]:
    return {"id": "c1", "model": "srv", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


def test_assembler_merges_openai_style_tool_call_fragments_by_index() -> None:
    asm = StreamAssembler()
    asm.add(chunk({"role": "assistant", "content": None}))
    asm.add(chunk({"tool_calls": [{"index": 0, "id": "a", "function": {"name": "one", "arguments": ""}}]}))
    asm.add(chunk({"tool_calls": [{"index": 1, "id": "b", "function": {"name": "two", "arguments": "{}"}}]}))
    asm.add(chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"x": '}}]}))
    asm.add(chunk({"tool_calls": [{"index": 0, "function": {"arguments": "1}"}}]}))
    asm.add(chunk({}, "tool_calls"))
    asm.add({"id": "c1", "choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 4}})
    message = asm.message()
    assert message.tool_calls == (
        ToolCall(id="a", name="one", arguments='{"x": 1}'), ToolCall(id="b", name="two", arguments="{}"),
    )
    assert asm.finish_reason == "tool_calls"
    assert asm.final_usage() == Usage(prompt_tokens=9, completion_tokens=4)


def test_assembler_takes_llama_cpp_repeated_names_once() -> None:
    asm = StreamAssembler()
    for piece in ['{"city"', ': "Paris"', "}", ""]:
        asm.add(chunk({"content": None, "function_call": {"name": "get_weather", "arguments": piece},
                       "tool_calls": [{"index": 0, "id": "call_x", "type": "function",
                                       "function": {"name": "get_weather", "arguments": piece}}]}))
    asm.add(chunk({"tool_calls": None}, "tool_calls"))
    (call,) = asm.message().tool_calls
    assert call == ToolCall(id="call_x", name="get_weather", arguments='{"city": "Paris"}')
    # No usage in the stream: the completion is estimated at one token per chunk.
    assert asm.final_usage() == Usage(prompt_tokens=0, completion_tokens=4)


def test_assembler_text_legacy_function_call_and_missing_ids() -> None:
    asm = StreamAssembler()
    assert asm.add(chunk({"content": "Hel"})) == "Hel"
    assert asm.add(chunk({"content": "lo"}, "stop")) == "lo"
    assert asm.add({"choices": [{"index": 1, "delta": {"content": "other choice"}}]}) == ""
    assert asm.text == "Hello" and asm.response_id == "c1" and asm.server_model == "srv"
    legacy = StreamAssembler()
    legacy.add(chunk({"function_call": {"name": "f", "arguments": "{}"}}, "function_call"))
    (call,) = legacy.message().tool_calls
    assert call.name == "f" and call.id.startswith("call_0_")


def test_assembler_takes_a_whole_completion_from_a_server_that_does_not_stream() -> None:
    asm = StreamAssembler()
    text = asm.add_completion({
        "id": "x", "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
            "role": "assistant", "content": "checking",
            "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}}],
        "usage": {"prompt_tokens": 34, "completion_tokens": 9, "total_tokens": 43},
    })
    assert text == "checking" and asm.finish_reason == "tool_calls"
    assert asm.message().tool_calls == (ToolCall(id="c", name="f", arguments="{}"),)
    assert asm.final_usage() == Usage(prompt_tokens=34, completion_tokens=9)


def test_error_message_reads_openai_fastapi_and_plain_bodies() -> None:
    assert error_message(b'{"error": {"message": "bad thing", "type": "x"}}') == "bad thing"
    assert error_message(b'{"detail": "Not Found"}') == "Not Found"
    assert error_message(b'{"detail": [{"loc": ["body"], "msg": "field required"}]}').startswith('[{"loc"')
    assert error_message(b'{"error": "plain"}') == "plain"
    assert error_message(b"<html>oops</html>") == "<html>oops</html>"
