"""The host API: permission first, then storage, llm, messaging, web, log and config."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import pytest

from rustyclaw.adapters.plugins.host_api import PluginHost, PluginStorage
from rustyclaw.domain.messages import OutboundMessage
from rustyclaw.domain.plugins import PluginError, PluginManifest, PluginPermissionError

from .fakes import ScriptedLLM, Step

pytestmark = pytest.mark.anyio


def manifest(*permissions: str, name: str = "p") -> PluginManifest:
    return PluginManifest(name=name, version="1", runtime="python", entry="p.py",
                          permissions=list(permissions))  # type: ignore[arg-type]


async def test_storage_is_per_plugin_and_persists(tmp_path: Path) -> None:
    host = PluginHost(storage=PluginStorage(tmp_path))
    a, b = manifest("storage", name="a"), manifest("storage", name="b")
    await host.call(a, "storage.set", {"key": "k", "value": {"n": 1}})
    await host.call(b, "storage.set", {"key": "k", "value": "other"})
    assert await host.call(a, "storage.get", {"key": "k"}) == {"n": 1}
    assert await host.call(a, "storage.keys", {}) == ["k"]
    assert await host.call(a, "storage.delete", {"key": "k"}) is True
    assert await host.call(a, "storage.delete", {"key": "k"}) is False
    fresh = PluginHost(storage=PluginStorage(tmp_path))
    assert await fresh.call(b, "storage.get", {"key": "k"}) == "other"
    assert json.loads((tmp_path / "a" / "storage.json").read_text()) == {}


async def test_storage_limits_and_bad_keys(tmp_path: Path) -> None:
    host = PluginHost(storage=PluginStorage(tmp_path, max_bytes=100))
    m = manifest("storage")
    with pytest.raises(PluginError, match="the limit is 100"):
        await host.call(m, "storage.set", {"key": "k", "value": "x" * 200})
    assert await host.call(m, "storage.get", {"key": "k"}) is None
    with pytest.raises(PluginError, match="argument 'key' is required"):
        await host.call(m, "storage.get", {})
    with pytest.raises(PluginError, match="1 to 256 characters"):
        await host.call(m, "storage.get", {"key": ""})


async def test_every_api_is_refused_without_its_permission_before_the_backend(tmp_path: Path) -> None:
    touched: list[str] = []

    async def fetch(url: str) -> tuple[int, str, str]:
        touched.append("web")
        return 200, "", ""

    async def send(message: OutboundMessage) -> None:
        touched.append("send")

    llm = ScriptedLLM()
    host = PluginHost(storage=PluginStorage(tmp_path), llm=llm, send=send, fetch=fetch)
    bare = manifest()
    for api, args in [("web.fetch", {"url": "http://x"}), ("messaging.send", {}), ("llm.complete", {}),
                      ("storage.set", {"key": "k", "value": 1})]:
        with pytest.raises(PluginPermissionError, match=f"{api} needs the"):
            await host.call(bare, api, args)
    assert touched == [] and llm.requests == [] and not (tmp_path / "p").exists()
    assert host.calls == 0


async def test_llm_messaging_web_log_and_config(tmp_path: Path) -> None:
    sent: list[OutboundMessage] = []

    async def send(message: OutboundMessage) -> None:
        sent.append(message)

    async def fetch(url: str) -> tuple[int, str, str]:
        return 201, "text/plain", f"body of {url}"

    llm = ScriptedLLM([Step(text="a haiku")])
    host = PluginHost(storage=PluginStorage(tmp_path), llm=llm, send=send, fetch=fetch,
                      configs={"p": {"x": 1}}, llm_max_tokens=100)
    m = manifest("llm", "messaging", "web")
    answer = await host.call(m, "llm.complete", {"prompt": "write", "system": "be brief", "maxTokens": 500})
    assert answer == {"text": "a haiku", "model": "fake/model"}
    request = llm.requests[0]
    assert [(x.role, x.content) for x in request.messages] == [("system", "be brief"), ("user", "write")]
    assert request.max_tokens == 100
    await host.call(m, "messaging.send", {"channel": "telegram", "peerId": "42", "text": "hi", "chatKind": "group"})
    assert sent == [OutboundMessage(channel="telegram", peer_id="42", text="hi", chat_kind="group")]
    with pytest.raises(PluginError, match="chatKind"):
        await host.call(m, "messaging.send", {"channel": "t", "peerId": "1", "text": "x", "chatKind": "dm"})
    assert await host.call(m, "web.fetch", {"url": "http://a.test"}) == {
        "status": 201, "contentType": "text/plain", "text": "body of http://a.test"}
    assert await host.call(m, "config.get", {}) == {"x": 1}
    assert await host.call(m, "log", {"message": "hello"}) is None


async def test_missing_backends_and_timeouts(tmp_path: Path) -> None:
    async def slow(url: str) -> tuple[int, str, str]:
        await anyio.sleep(10)
        return 200, "", ""

    m = manifest("llm", "messaging", "web")
    bare = PluginHost(storage=PluginStorage(tmp_path))
    for api, args in [("llm.complete", {"prompt": "x"}), ("messaging.send", {}), ("web.fetch", {"url": "u"})]:
        with pytest.raises(PluginError, match="no "):
            await bare.call(m, api, args)
    host = PluginHost(storage=PluginStorage(tmp_path), fetch=slow, timeout_seconds=0.05)
    with pytest.raises(PluginError, match="timed out"):
        await host.call(m, "web.fetch", {"url": "u"})
    args: Any = ["not", "an", "object"]
    with pytest.raises(PluginError, match="args should be an object"):
        await host.call(m, "log", args)
