"""sessions_list / sessions_history / sessions_send, message, the default tool set and its prompt cost."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from rustyclaw.adapters.audit.jsonl import JsonlAuditLog, read_audit
from rustyclaw.adapters.storage.memory import MemoryStore
from rustyclaw.adapters.tokenizer import make_tokenizer
from rustyclaw.adapters.tools.message import MessageTool
from rustyclaw.adapters.tools.session_turns import SessionsSendTool, SessionTurns
from rustyclaw.adapters.tools.sessions import SessionsHistoryTool, SessionsListTool
from rustyclaw.config.loader import validate
from rustyclaw.domain.audit import AuditRecord
from rustyclaw.domain.errors import ChannelError, ToolError
from rustyclaw.domain.messages import ChatMessage, SessionEntry
from rustyclaw.domain.sessions import SessionService
from rustyclaw.domain.settings import SessionSettings
from rustyclaw.ports.tools import ToolContext
from rustyclaw.tools_setup import build_tools

from .fakes import FakeClock

pytestmark = pytest.mark.anyio
CTX = ToolContext(agent_id="main", session_key="agent:main:main", session_id="s1", channel="telegram",
                  sender_id="42")


async def service() -> SessionService:
    store = MemoryStore()
    await store.start()
    for key, updated in [("agent:main:main", 3.0), ("agent:main:telegram:group:9", 2.0), ("agent:other:main", 5.0)]:
        entry = SessionEntry(key=key, session_id=key + "-id", agent_id=key.split(":")[1], updated_at=updated,
                             channel="telegram")
        await store.put_session(entry)
        await store.append_messages(entry, [ChatMessage(role="user", content=f"hello {key} " + "x" * 600),
                                            ChatMessage(role="assistant", content="hi")])
    return SessionService(store, FakeClock(), SessionSettings())


async def test_sessions_list_and_history_stay_within_the_agent() -> None:
    sessions = await service()
    listing = await SessionsListTool(sessions).run({}, CTX)
    lines = listing.splitlines()
    assert len(lines) == 2 and lines[0].startswith("agent:main:main ") and lines[0].endswith("(this session)")
    assert "agent:other" not in listing
    history = await SessionsHistoryTool(sessions).run({"key": "agent:main:telegram:group:9", "limit": 1}, CTX)
    assert history == "assistant: hi"
    full = await SessionsHistoryTool(sessions).run({"key": "agent:main:telegram:group:9"}, CTX)
    assert full.startswith("user: hello agent:main:telegram:group:9 xxx") and "...\nassistant: hi" in full
    with pytest.raises(ToolError, match="another agent"):
        await SessionsHistoryTool(sessions).run({"key": "agent:other:main"}, CTX)
    with pytest.raises(ToolError, match="no session"):
        await SessionsHistoryTool(sessions).run({"key": "agent:main:nope"}, CTX)
    with pytest.raises(ToolError, match="positive integer"):
        await SessionsHistoryTool(sessions).run({"key": "agent:main:main", "limit": 0}, CTX)


async def test_sessions_send_refuses_this_session_another_agent_and_unknown_sessions() -> None:
    # Its turns go through the gateway (tests/integration/test_subagents.py); the refusals come first.
    sessions = await service()
    tool = SessionsSendTool(sessions.store.get_session, SessionTurns())
    with pytest.raises(ToolError, match="this session"):
        await tool.run({"sessionKey": "agent:main:main", "message": "x"}, CTX)
    with pytest.raises(ToolError, match="another agent"):
        await tool.run({"key": "agent:other:main", "text": "x"}, CTX)
    with pytest.raises(ToolError, match="no session"):
        await tool.run({"sessionKey": "agent:main:nope", "message": "x"}, CTX)
    with pytest.raises(ToolError, match="no gateway"):
        await tool.run({"sessionKey": "agent:main:telegram:group:9", "message": "x"}, CTX)


async def test_message_sends_through_the_channel_callable() -> None:
    sent: list[tuple[str, str, str]] = []

    async def send(channel: str, peer: str, text: str) -> None:
        if channel == "nowhere":
            raise ChannelError("unknown channel 'nowhere'")
        sent.append((channel, peer, text))

    tool = MessageTool(send)
    assert await tool.run({"to": "99", "text": "hey"}, CTX) == "sent to telegram:99"
    assert await tool.run({"to": "u", "text": "yo", "channel": "web"}, CTX) == "sent to web:u"
    assert sent == [("telegram", "99", "hey"), ("web", "u", "yo")]
    with pytest.raises(ToolError, match="unknown channel"):
        await tool.run({"to": "1", "text": "x", "channel": "nowhere"}, CTX)
    with pytest.raises(ToolError, match="'to'"):
        await tool.run({"text": "x"}, CTX)


async def test_default_tools_are_offered_within_the_prompt_budget(tmp_path: Path) -> None:
    sessions = await service()

    async def send(channel: str, peer: str, text: str) -> None:
        return None

    setup = build_tools(validate({}, "default", tmp_path), store=sessions.store, sessions_service=sessions,
                        workspace_root=tmp_path, sandbox=None, channels_send=send, audit=None)
    specs = setup.registry.specs(CTX)
    assert [s.name for s in specs] == ["read", "write", "edit", "apply_patch", "web_fetch", "web_search",
                                       "sessions_list", "sessions_history", "sessions_send", "sessions_spawn",
                                       "message"]
    assert all("\n" not in s.description and len(s.description) <= 60 for s in specs)
    wire = [{"type": "function", "function": msgspec.to_builtins(s)} for s in specs]
    # The whole first "hi" prompt must stay within 1,000 tokens; the tools may use half of it.
    assert make_tokenizer("cl100k").count(msgspec.json.encode(wire).decode()) <= 500
    await setup.aclose()


async def test_the_jsonl_audit_log_appends_one_line_per_record(tmp_path: Path) -> None:
    log = JsonlAuditLog.in_state_dir(tmp_path)
    for verdict in ("allow", "deny"):
        await log.record(AuditRecord(time=1.0, agent="main", session="k", sender="42", channel="telegram",
                                     tool="exec", arguments="{}", verdict=verdict, rule="r", status="done"))
    await log.aclose()
    await log.aclose()
    path = tmp_path / "audit" / "tools.jsonl"
    assert [r.verdict for r in read_audit(path)] == ["allow", "deny"]
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    blocked = JsonlAuditLog(tmp_path / "audit" / "tools.jsonl" / "nested")  # a file where a folder must be
    await blocked.record(AuditRecord(time=1.0, agent="a", session="k", sender="s", channel="c", tool="t",
                                     arguments="{}", verdict="allow", rule="r", status="done"))
