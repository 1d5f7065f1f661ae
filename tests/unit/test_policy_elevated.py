"""`/elevated` through the gateway, the audited registry, and the config mapping onto the policy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rustyclaw.adapters.storage.memory import MemoryStore
from rustyclaw.config.loader import validate
from rustyclaw.domain.agent import AgentRunner
from rustyclaw.domain.audit import AuditedRegistry, AuditRecord, summarize_arguments
from rustyclaw.domain.context import ContextBuilder
from rustyclaw.domain.gateway import Gateway
from rustyclaw.domain.messages import ToolCall
from rustyclaw.domain.policy import ConfiguredPolicy
from rustyclaw.domain.prompt import PromptBuilder
from rustyclaw.domain.sessions import SessionService
from rustyclaw.domain.settings import AgentSettings, SessionSettings
from rustyclaw.ports.llm import ToolSpec
from rustyclaw.ports.tools import ToolContext
from rustyclaw.tools_setup import make_policy, policy_settings

from .fakes import DictWorkspace, FakeClock, ScriptedLLM, Step, WordTokenizer
from .gateway_kit import inbound

pytestmark = pytest.mark.anyio


class HostExec:
    spec = ToolSpec(name="exec", description="Run a shell command.")

    def __init__(self) -> None:
        self.calls: list[ToolContext] = []

    async def run(self, arguments: dict[str, Any], context: ToolContext) -> str:
        self.calls.append(context)
        return "ran"


class ListSink:
    def __init__(self) -> None:
        self.records: list[AuditRecord] = []

    async def record(self, entry: AuditRecord) -> None:
        self.records.append(entry)

    async def aclose(self) -> None:
        return None


def config(tmp_path: Path, tools: dict[str, Any], sandbox: dict[str, Any] | None = None) -> Any:
    return validate({"tools": tools, "sandbox": sandbox or {"mode": "off"}, "agents": {"list": [
        {"id": "main"}, {"id": "locked", "tools": {"deny": ["web_fetch"], "elevated": {"enabled": False}}},
    ]}}, "test.yaml", tmp_path)


ELEVATED_TOOLS = {"exec": {"host": True}, "elevated": {"enabled": True, "allowFrom": {"telegram": ["42"]}}}


async def gateway_with(policy: ConfiguredPolicy, steps: list[Step]) -> tuple[Gateway, HostExec, ListSink,
                                                                          MemoryStore, ScriptedLLM]:
    store = MemoryStore()
    await store.start()
    clock = FakeClock()
    llm = ScriptedLLM(steps)
    settings = AgentSettings(context_tokens=4000, max_completion_tokens=200)
    tool = HostExec()
    sink = ListSink()
    registry = AuditedRegistry([tool], policy, audit=sink, clock=clock.now)
    runner = AgentRunner(llm, registry, ContextBuilder(WordTokenizer(), settings.pruning), clock,
                         context_tokens=4000, max_completion_tokens=200, max_iterations=4)
    sessions = SessionService(store, clock, SessionSettings())
    gateway = Gateway(sessions, runner, PromptBuilder(DictWorkspace({})), llm, clock, settings, elevation=policy)
    return gateway, tool, sink, store, llm


def call(arguments: str = '{"command": "id"}') -> Step:
    return Step(calls=[ToolCall(id="c1", name="exec", arguments=arguments)])


async def test_an_allowed_sender_elevates_and_host_exec_runs(tmp_path: Path) -> None:
    policy = make_policy(config(tmp_path, ELEVATED_TOOLS))
    gateway, tool, sink, store, llm = await gateway_with(policy, [call(), Step(text="done")])
    owner = {"channel": "telegram", "peer_id": "42", "sender_id": "42"}
    # Before /elevated the tool is not offered and a call to it is denied, never run.
    reply = await gateway.handle(inbound("/elevated on", **owner))
    assert reply is not None and reply.text.startswith("Elevated mode on")
    entry = await store.get_session("agent:main:main")
    assert entry is not None and entry.elevated_level == "on"
    reply = await gateway.handle(inbound("run id", **owner))
    assert reply is not None and reply.text.strip() == "done"
    assert len(tool.calls) == 1 and tool.calls[0].elevated and tool.calls[0].model == "fake/model"
    assert [s.name for s in llm.requests[0].tools] == ["exec"]
    assert [(r.tool, r.verdict, r.status, r.sender) for r in sink.records] == [("exec", "elevated", "done", "42")]
    # /elevated off is persisted and the tool disappears again
    reply = await gateway.handle(inbound("/elevated off", **owner))
    entry = await store.get_session("agent:main:main")
    assert reply is not None and reply.text == "Elevated mode off." and entry is not None
    assert entry.elevated_level == "off"


async def test_an_unknown_sender_is_refused_and_the_call_never_runs(tmp_path: Path) -> None:
    policy = make_policy(config(tmp_path, ELEVATED_TOOLS))
    gateway, tool, sink, store, llm = await gateway_with(policy, [call('{"command": "x", "token": "s3cr3t"}'),
                                                                  Step(text="ok")])
    stranger = {"channel": "telegram", "peer_id": "7", "sender_id": "7"}
    reply = await gateway.handle(inbound("/elevated on", **stranger))
    assert reply is not None and "refused" in reply.text and "not in tools.elevated.allowFrom.telegram" in reply.text
    entry = await store.get_session("agent:main:main")
    assert entry is not None and entry.elevated_level == "off"
    await gateway.handle(inbound("run it", **stranger))
    assert tool.calls == [] and llm.requests[0].tools == ()
    stored = await store.load_messages(entry)
    result = next(m for m in stored if m.role == "tool")
    assert "not allowed" in result.content and "sender '7'" in result.content
    [record] = sink.records
    assert record.verdict == "deny" and record.status == "denied" and "s3cr3t" not in record.arguments
    assert '"token":"***"' in record.arguments


async def test_elevated_when_disabled_or_without_a_policy(tmp_path: Path) -> None:
    policy = make_policy(config(tmp_path, {"exec": {"host": True}}))
    gateway, *_ = await gateway_with(policy, [])
    reply = await gateway.handle(inbound("/elevated full", channel="telegram", peer_id="42", sender_id="42"))
    assert reply is not None and "tools.elevated.enabled is false" in reply.text
    reply = await gateway.handle(inbound("/elevated", channel="telegram", peer_id="42", sender_id="42"))
    assert reply is not None and reply.text.startswith("Elevated mode: off")
    reply = await gateway.handle(inbound("/elevated maybe"))
    assert reply is not None and reply.text.startswith("Usage")


def test_config_maps_onto_the_policy(tmp_path: Path) -> None:
    cfg = config(tmp_path, {"profile": "coding", "allow": ["web_fetch"], "deny": ["process"],
                            "byProvider": {"ollama": {"allow": ["read"]}},
                            "bySender": {"telegram:42": {"deny": ["group:runtime"]}}, **ELEVATED_TOOLS})
    settings = policy_settings(cfg)
    assert settings.profile == "coding" and settings.by_sender["telegram:42"].deny == ("group:runtime",)
    assert settings.by_agent["locked"].deny == ("web_fetch",) and not settings.agent_elevated["locked"].enabled
    policy = make_policy(cfg)
    sandboxed = ToolContext(agent_id="main", session_key="agent:main:main", session_id="s", channel="web",
                            sender_id="1")
    assert policy.decide("web_fetch", sandboxed).verdict == "allow"
    assert policy.decide("web_fetch", sandboxed.__class__(**{**_fields(sandboxed), "agent_id": "locked"})
                         ).rule == "agents[locked].tools.deny: web_fetch"
    assert policy.decide("exec", ToolContext(**{**_fields(sandboxed), "channel": "telegram", "sender_id": "42"})
                         ).rule == "tools.bySender[telegram:42].deny: group:runtime"
    assert policy.decide("read", ToolContext(**{**_fields(sandboxed), "model": "ollama/x"})).verdict == "allow"
    assert policy.decide("write", ToolContext(**{**_fields(sandboxed), "model": "ollama/x"})).verdict == "deny"


def test_default_config_offers_no_exec_on_the_host(tmp_path: Path) -> None:
    policy = make_policy(validate({}, "default", tmp_path))
    context = ToolContext(agent_id="main", session_key="agent:main:main", session_id="s", channel="web",
                          sender_id="1", elevated=True)
    decision = policy.decide("exec", context)
    assert decision.verdict == "deny" and "tools.exec.host is false" in decision.rule
    assert policy.decide("read", context).verdict == "allow"


def _fields(context: ToolContext) -> dict[str, Any]:
    return {name: getattr(context, name) for name in context.__struct_fields__}


def test_argument_summaries_mask_secrets_and_cap_length() -> None:
    text = summarize_arguments('{"url": "https://x.test/?q=1", "headers": {"Authorization": "Bearer abc"},'
                               ' "api_key": "k", "note": "sk-abcdefghijklmnopqrstuv", "body": "' + "x" * 500 + '"}')
    assert "Bearer" not in text and '"api_key":"***"' in text and "sk-abc" not in text
    assert "https://x.test/?q=1" in text and len(text) <= 300
    assert summarize_arguments("not json") == "not json"
    assert summarize_arguments("") == "{}"
