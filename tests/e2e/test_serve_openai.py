"""The OpenAI-compatible endpoint through `rustyclaw serve`, driven by the official `openai` SDK.

The model behind the gateway is llmock, which journals every request it gets: each test checks
that what the client asked for (max_tokens, sampling, stop, seed, system messages, history)
reached the model, in stateless mode (no `user`) and in session mode (`user` or the session header).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.e2e.gateway_process import GatewayProcess, write_config
from tests.fixtures.llm_servers import LLMockServer

TOKEN = "test-token-openai-0123456789abcdef"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, mock_llm_server: LLMockServer) -> Iterator[GatewayProcess]:
    home = tmp_path_factory.mktemp("openai-e2e")
    config = write_config(
        home / "config.yaml", home / "state", mock_llm_server.base_url, "mock-model",
        gateway={"openaiEndpoint": {"enabled": True}, "auth": {"token": TOKEN}},
        agents={"systemPrompt": "You are the gateway's agent."},
    )
    process = GatewayProcess(config, home).start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def client(gateway: GatewayProcess) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=TOKEN, max_retries=0) as sdk:
        yield sdk


@pytest.fixture
def model(mock_llm: LLMockServer) -> LLMockServer:
    return mock_llm


def bodies(model: LLMockServer) -> list[dict[str, Any]]:
    return [record["body"] for record in model.requests() if record.get("body")]


def texts(body: dict[str, Any]) -> list[tuple[str, str]]:
    return [(m["role"], m["content"]) for m in body["messages"]]


def test_stateless_sends_the_whole_conversation_and_every_parameter(client: openai.OpenAI,
                                                                       model: LLMockServer) -> None:
    model.reply("four")
    answer = client.chat.completions.create(
        model="rustyclaw/main",
        messages=[
            {"role": "system", "content": "Answer in one word."},
            {"role": "user", "content": "What is 2+2?"},
            {"role": "assistant", "content": "Let me think."},
            {"role": "user", "content": "Just the number."},
        ],
        max_tokens=5, temperature=0.3, top_p=0.9, stop=["END", "STOP"], seed=42,
    )
    assert answer.choices[0].message.content == "four"
    (sent,) = bodies(model)
    assert sent["max_tokens"] == 5
    assert sent["temperature"] == 0.3
    assert sent["top_p"] == 0.9
    assert sent["stop"] == ["END", "STOP"]
    assert sent["seed"] == 42
    system = sent["messages"][0]
    assert system["role"] == "system"
    assert "You are the gateway's agent." in system["content"]  # the agent's own prompt stays
    assert system["content"].rstrip().endswith("Answer in one word.")  # the client's is added
    assert texts(sent)[1:] == [
        ("user", "What is 2+2?"), ("assistant", "Let me think."), ("user", "Just the number."),
    ]
    assert sent.get("tools"), "the agent's own tools are offered in stateless mode too"


def test_stateless_requests_share_nothing(client: openai.OpenAI, model: LLMockServer) -> None:
    model.reply("one", times=None)
    for question in ("first question", "second question"):
        client.chat.completions.create(model="main", messages=[{"role": "user", "content": question}])
    first, second = bodies(model)
    assert [c for r, c in texts(first) if r == "user"] == ["first question"]
    assert [c for r, c in texts(second) if r == "user"] == ["second question"]


def test_session_mode_keeps_history_and_takes_only_the_newest_user_message(
    client: openai.OpenAI, model: LLMockServer
) -> None:
    model.reply("Hello Ada.").reply("Your name is Ada.")
    client.chat.completions.create(model="main", user="ada-session",
                                   messages=[{"role": "user", "content": "My name is Ada."}])
    client.chat.completions.create(
        model="main", user="ada-session", max_completion_tokens=7,
        messages=[
            {"role": "user", "content": "IGNORED old text the gateway already keeps"},
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "What is my name?"},
        ],
    )
    _, second = bodies(model)
    assert texts(second)[1:] == [
        ("user", "My name is Ada."), ("assistant", "Hello Ada."), ("user", "What is my name?"),
    ]
    assert second["max_tokens"] == 7
    assert second["messages"][0]["content"].rstrip().endswith("Be brief.")


def test_the_session_header_picks_the_session(client: openai.OpenAI, model: LLMockServer) -> None:
    model.reply("noted", times=None)
    for header, text in (("x-rustyclaw-session-key", "one"), ("x-openclaw-session-key", "two")):
        client.chat.completions.create(
            model="main", messages=[{"role": "user", "content": text}],
            extra_headers={header: "header-session"},
        )
    _, second = bodies(model)
    assert [c for r, c in texts(second) if r == "user"] == ["one", "two"]


def test_streaming_with_usage(client: openai.OpenAI, model: LLMockServer) -> None:
    model.reply("streamed words here")
    stream = client.chat.completions.create(
        model="main", messages=[{"role": "user", "content": "stream please"}], stream=True,
        stream_options={"include_usage": True}, max_tokens=9, seed=3,
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "streamed words here"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.total_tokens == chunks[-1].usage.prompt_tokens + chunks[-1].usage.completion_tokens
    (sent,) = bodies(model)
    assert sent["max_tokens"] == 9 and sent["seed"] == 3


def test_client_tools_are_refused_with_a_clear_400(client: openai.OpenAI, model: LLMockServer) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model="main", messages=[{"role": "user", "content": "weather?"}],
            tools=[{"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}],
        )
    assert caught.value.status_code == 400
    assert caught.value.code == "tools_not_supported"
    assert "tools" in caught.value.message
    assert bodies(model) == []


def test_bad_parameters_are_400_naming_the_field(client: openai.OpenAI, model: LLMockServer) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="main", messages=[{"role": "user", "content": "x"}],
                                       temperature=5)
    assert caught.value.param == "temperature"
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="main", messages=[{"role": "user", "content": "x"}], n=2)
    assert caught.value.param == "n"
    assert bodies(model) == []


def test_models_list_and_retrieve(client: openai.OpenAI) -> None:
    assert [m.id for m in client.models.list()] == ["rustyclaw/main"]
    assert client.models.retrieve("rustyclaw/main").id == "rustyclaw/main"
    with pytest.raises(openai.NotFoundError) as caught:
        client.models.retrieve("rustyclaw/nope")
    assert caught.value.code == "model_not_found"


def test_a_wrong_token_is_an_openai_shaped_401(gateway: GatewayProcess) -> None:
    with openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="wrong", max_retries=0) as sdk, \
            pytest.raises(openai.AuthenticationError) as caught:
        sdk.models.list()
    assert caught.value.code == "invalid_api_key"


def test_no_model_reachable_says_what_to_do(tmp_path: Path, closed_port_url: str) -> None:
    config = write_config(tmp_path / "config.yaml", tmp_path / "state", closed_port_url, "nothing",
                          gateway={"openaiEndpoint": {"enabled": True}})
    process = GatewayProcess(config, tmp_path).start()
    try:
        with openai.OpenAI(base_url=f"{process.url}/v1", api_key="none", max_retries=0) as sdk, \
                pytest.raises(openai.APIStatusError) as caught:
            sdk.chat.completions.create(model="main", messages=[{"role": "user", "content": "hi"}])
    finally:
        process.stop()
    assert caught.value.status_code == 502
    message = caught.value.message
    assert "not reachable" in message and "rustyclaw doctor" in message and "llm.providers" in message
