from __future__ import annotations

import anyio
import pytest

from rustyclaw.domain.errors import InvalidInputError, LLMUnavailableError
from rustyclaw.domain.events import ReplyDelta, ToolActivity, TurnEvent, TurnStarted
from rustyclaw.domain.gateway import AccessDecision
from rustyclaw.domain.messages import ChatMessage, InboundMessage, ToolCall, TurnOptions
from rustyclaw.domain.settings import AgentSettings, ResetPolicy, SessionSettings
from rustyclaw.domain.tools import PolicyDecision
from rustyclaw.ports.tools import ToolContext

from .fakes import Step
from .gateway_kit import inbound, make_gateway

pytestmark = pytest.mark.anyio


async def test_a_turn_streams_replies_and_stores_both_messages() -> None:
    kit = await make_gateway([Step(text="hello there")])
    events: list[TurnEvent] = []

    async def emit(event: TurnEvent) -> None:
        events.append(event)

    reply = await kit.gateway.handle(inbound("hi"), emit)
    assert reply is not None and reply.text == "hello there" and reply.error is None
    assert "".join(e.text for e in events if isinstance(e, ReplyDelta)).strip() == "hello there"
    entry = await kit.store.get_session("agent:main:main")
    assert entry is not None
    stored = await kit.store.load_messages(entry)
    assert [(m.role, m.content) for m in stored] == [("user", "hi"), ("assistant", "hello there")]
    assert all(m.tokens >= 0 and m.id for m in stored)
    assert entry.input_tokens == 10 and entry.last_channel == "web"
    # the model saw the system prompt, then the user's message as a plain string
    sent = kit.llm.requests[0].messages
    assert sent[0].role == "system" and sent[-1].content == "hi"


async def test_history_is_sent_on_the_next_turn() -> None:
    kit = await make_gateway([Step(text="one"), Step(text="two")])
    await kit.gateway.handle(inbound("first"))
    await kit.gateway.handle(inbound("second"))
    contents = [m.content for m in kit.llm.requests[1].messages[1:]]
    assert contents == ["first", "one", "second"]


async def test_tool_calls_run_and_the_loop_continues_to_a_final_answer() -> None:
    call = ToolCall(id="c1", name="session_status", arguments="{}")
    kit = await make_gateway([Step(calls=[call]), Step(text="done")])
    events: list[TurnEvent] = []

    async def emit(event: TurnEvent) -> None:
        events.append(event)

    reply = await kit.gateway.handle(inbound("status please"), emit)
    assert reply is not None and reply.text == "done"
    tool_events = [e for e in events if isinstance(e, ToolActivity)]
    assert [e.status for e in tool_events] == ["started", "done"]
    second = kit.llm.requests[1].messages
    assert second[-1].role == "tool" and second[-1].tool_call_id == "c1"
    assert "session=agent:main:main" in second[-1].content
    assert second[-2].tool_calls == (call,)
    assert [t.name for t in kit.llm.requests[0].tools] == ["session_status"]


async def test_bad_tool_arguments_and_unknown_tools_go_back_to_the_model_as_errors() -> None:
    calls = [ToolCall(id="c1", name="session_status", arguments="{not json"),
             ToolCall(id="c2", name="nope", arguments="{}")]
    kit = await make_gateway([Step(calls=calls), Step(text="sorry")])
    await kit.gateway.handle(inbound("x"))
    results = [m.content for m in kit.llm.requests[1].messages if m.role == "tool"]
    assert results[0].startswith("error: arguments are not valid JSON")
    assert results[1] == "error: unknown tool 'nope'"


async def test_a_denied_tool_is_never_executed() -> None:
    ran: list[str] = []

    class Deny:
        def decide(self, tool: str, context: ToolContext) -> PolicyDecision:
            return PolicyDecision(verdict="deny", rule="tools.deny: session_status")

    kit = await make_gateway([Step(calls=[ToolCall(id="c1", name="session_status")]), Step(text="ok")],
                       policy=Deny())
    original = kit.tools._tools["session_status"].run

    async def spy(arguments: dict[str, object], context: ToolContext) -> str:
        ran.append("ran")
        return await original(arguments, context)

    kit.tools._tools["session_status"].run = spy  # type: ignore[method-assign]
    await kit.gateway.handle(inbound("x"))
    assert ran == []
    assert kit.llm.requests[0].tools == ()  # a denied tool is not even offered
    result = next(m for m in kit.llm.requests[1].messages if m.role == "tool")
    assert "not allowed" in result.content and "tools.deny" in result.content


async def test_the_tool_loop_stops_at_its_limit() -> None:
    loop = [Step(calls=[ToolCall(id=f"c{i}", name="session_status")]) for i in range(5)]
    kit = await make_gateway(loop, agent_settings=AgentSettings(context_tokens=4000, max_completion_tokens=100,
                                                          max_tool_iterations=3))
    reply = await kit.gateway.handle(inbound("loop"))
    assert reply is not None and reply.finish_reason == "tool_limit"
    assert len(kit.llm.requests) == 3


async def test_new_and_reset_start_a_fresh_session_and_archive_the_old() -> None:
    kit = await make_gateway([Step(text="a"), Step(text="b")])
    await kit.gateway.handle(inbound("one"))
    old = await kit.store.get_session("agent:main:main")
    reply = await kit.gateway.handle(inbound("/new"))
    assert reply is not None and reply.command == "reset"
    new = await kit.store.get_session("agent:main:main")
    assert old is not None and new is not None and new.session_id != old.session_id
    assert await kit.store.load_messages(new) == []
    await kit.gateway.handle(inbound("/reset"))
    await kit.gateway.handle(inbound("two"))
    assert [m.content for m in kit.llm.requests[-1].messages[1:]] == ["two"]


async def test_daily_reset_happens_when_the_hour_passes() -> None:
    kit = await make_gateway([Step(text="a"), Step(text="b")],
                       session_settings=SessionSettings(reset=ResetPolicy(mode="idle", idle_minutes=10)))
    await kit.gateway.handle(inbound("one"))
    first = await kit.store.get_session("agent:main:main")
    kit.clock.t += 11 * 60
    await kit.gateway.handle(inbound("two"))
    second = await kit.store.get_session("agent:main:main")
    assert first is not None and second is not None and first.session_id != second.session_id
    assert [m.content for m in kit.llm.requests[-1].messages[1:]] == ["two"]


async def test_status_help_and_model_commands() -> None:
    kit = await make_gateway([Step(text="a")])
    status = await kit.gateway.handle(inbound("/status"))
    assert status is not None and "agent:main:main" in status.text and "fake/model" in status.text
    helptext = await kit.gateway.handle(inbound("/help"))
    assert helptext is not None and "/new" in helptext.text
    listing = await kit.gateway.handle(inbound("/model"))
    assert listing is not None and "fake/other" in listing.text
    bad = await kit.gateway.handle(inbound("/model nosuch/thing"))
    assert bad is not None and bad.text.startswith("Unknown model")
    ok = await kit.gateway.handle(inbound("/model fake/other"))
    assert ok is not None and "fake/other" in ok.text
    await kit.gateway.handle(inbound("hello"))
    assert kit.llm.requests[-1].model == "fake/other"
    assert kit.llm.requests == kit.llm.requests[-1:]  # commands never reach the model


async def test_unknown_slash_commands_are_answered_by_the_gateway() -> None:
    kit = await make_gateway([Step(text="a")])
    reply = await kit.gateway.handle(inbound("/shrug that"))
    assert reply is not None and reply.command == "unknown"
    assert reply.text.startswith("Unknown command /shrug.") and "/new" in reply.text
    assert kit.llm.requests == []


async def test_slash_text_that_is_no_command_goes_to_the_model() -> None:
    kit = await make_gateway([Step(text="a")])
    await kit.gateway.handle(inbound("/etc/hosts: what is it?"))
    assert kit.llm.requests[0].messages[-1].content == "/etc/hosts: what is it?"


async def test_a_duplicate_platform_message_is_answered_once() -> None:
    kit = await make_gateway([Step(text="a"), Step(text="b")])
    first = await kit.gateway.handle(inbound("hi", message_id="m1"))
    again = await kit.gateway.handle(inbound("hi", message_id="m1"))
    assert first is not None and again is None
    assert len(kit.llm.requests) == 1


async def test_an_llm_failure_is_a_clear_reply_and_the_message_is_kept() -> None:
    kit = await make_gateway([Step(error=LLMUnavailableError("connection refused at http://x"))])
    reply = await kit.gateway.handle(inbound("hi"))
    assert reply is not None and reply.error is not None and "connection refused" in reply.text
    entry = await kit.store.get_session("agent:main:main")
    assert entry is not None
    assert [m.content for m in await kit.store.load_messages(entry)] == ["hi"]
    # the session is not stuck: the next turn runs
    kit.llm.steps.append(Step(text="back"))
    again = await kit.gateway.handle(inbound("again"))
    assert again is not None and again.text == "back"


async def test_stop_cancels_the_running_turn_and_frees_the_session() -> None:
    kit = await make_gateway([Step(hang=True), Step(text="after")])
    results: list[object] = []

    async def run() -> None:
        results.append(await kit.gateway.handle(inbound("long job")))

    async with anyio.create_task_group() as tg:
        tg.start_soon(run)
        await kit.llm.started.wait()
        stop = await kit.gateway.handle(inbound("/stop"))
        assert stop is not None and stop.text == "Stopped."
    cancelled = results[0]
    assert cancelled is not None and cancelled.finish_reason == "cancelled"  # type: ignore[attr-defined]
    nothing = await kit.gateway.handle(inbound("/stop"))
    assert nothing is not None and nothing.text == "Nothing is running."
    reply = await kit.gateway.handle(inbound("next"))
    assert reply is not None and reply.text == "after"


async def test_a_caller_that_goes_away_cancels_the_turn_without_corrupting_the_session() -> None:
    kit = await make_gateway([Step(hang=True), Step(text="fine")])
    async with anyio.create_task_group() as tg:
        tg.start_soon(kit.gateway.handle, inbound("first"))
        await kit.llm.started.wait()
        tg.cancel_scope.cancel()
    entry = await kit.store.get_session("agent:main:main")
    assert entry is not None
    assert [m.role for m in await kit.store.load_messages(entry)] == ["user"]
    reply = await kit.gateway.handle(inbound("second"))
    assert reply is not None and reply.text == "fine"


async def test_turns_of_one_session_run_one_at_a_time_others_in_parallel() -> None:
    kit = await make_gateway([Step(hang=True)])
    order: list[str] = []

    async def ask(text: str, peer: str) -> None:
        reply = await kit.gateway.handle(inbound(text, peer_id=peer, sender_id=peer))
        order.append(f"{peer}:{reply.text if reply else None}")

    settings = SessionSettings(dm_scope="per-peer")
    kit.gateway.sessions.settings = settings
    with anyio.move_on_after(2):
        async with anyio.create_task_group() as tg:
            tg.start_soon(ask, "blocks", "a")
            await kit.llm.started.wait()
            tg.start_soon(ask, "waits", "a")
            await ask("other peer runs", "b")
            assert order == ["b:ok"]  # b answered while a's first turn still holds a's lock
            assert kit.gateway.sessions.stop("agent:main:direct:a")
    assert order[1:] == ["a:", "a:ok"]


async def test_oversized_and_empty_messages_are_refused_clearly() -> None:
    kit = await make_gateway(agent_settings=AgentSettings(max_message_chars=10))
    with pytest.raises(InvalidInputError, match="limit is 10"):
        await kit.gateway.handle(inbound("x" * 11))
    with pytest.raises(InvalidInputError, match="empty"):
        await kit.gateway.handle(inbound("   "))
    assert kit.llm.requests == []


async def test_access_gate_can_refuse_with_a_reply_or_silently() -> None:
    class Gate:
        async def check(self, message: InboundMessage) -> AccessDecision:
            if message.sender_id == "stranger":
                return AccessDecision(allowed=False, reply="Pairing code: ABCD2345")
            return AccessDecision(allowed=message.sender_id != "muted")

    kit = await make_gateway([Step(text="a")], access=Gate())
    pairing = await kit.gateway.handle(inbound("hi", sender_id="stranger"))
    assert pairing is not None and pairing.command == "access" and "ABCD2345" in pairing.text
    assert await kit.gateway.handle(inbound("hi", sender_id="muted")) is None
    assert kit.llm.requests == []


async def test_turn_started_is_emitted_only_for_model_turns() -> None:
    kit = await make_gateway([Step(text="a")])
    events: list[TurnEvent] = []

    async def emit(event: TurnEvent) -> None:
        events.append(event)

    await kit.gateway.handle(inbound("/status"), emit)
    assert events == []
    await kit.gateway.handle(inbound("hi"), emit)
    assert isinstance(events[0], TurnStarted) and events[0].session_key == "agent:main:main"


async def test_access_is_decided_before_size_limits_are_revealed() -> None:
    class Silent:
        async def check(self, message: InboundMessage) -> AccessDecision:
            return AccessDecision(allowed=False)

    kit = await make_gateway(access=Silent(), agent_settings=AgentSettings(max_message_chars=5))
    assert await kit.gateway.handle(inbound("x" * 50)) is None


async def test_turn_options_reach_the_model_and_add_to_the_prompt() -> None:
    kit = await make_gateway([Step(text="ok")])
    options = TurnOptions(max_tokens=5, temperature=0.2, top_p=0.5, stop=("END",), seed=7, system="Be brief.")
    await kit.gateway.handle(inbound("hi", options=options))
    request = kit.llm.requests[0]
    assert (request.max_tokens, request.temperature, request.top_p, request.stop, request.seed) == (
        5, 0.2, 0.5, ("END",), 7)
    assert request.messages[0].role == "system" and request.messages[0].content.endswith("Be brief.")
    entry = (await kit.store.list_sessions())[0]
    assert [m.content for m in await kit.store.load_messages(entry)] == ["hi", "ok"]  # options are not stored


async def test_a_stateless_turn_uses_the_given_history_and_stores_nothing() -> None:
    kit = await make_gateway([Step(text="four")])
    history = (ChatMessage(role="user", content="2+2?"), ChatMessage(role="assistant", content="Thinking."),
               ChatMessage(role="user", content="Just the number."))
    reply = await kit.gateway.handle(inbound("Just the number.", options=TurnOptions(history=history)))
    assert reply is not None and reply.text == "four" and reply.error is None
    sent = kit.llm.requests[0].messages
    assert [(m.role, m.content) for m in sent[1:]] == [
        ("user", "2+2?"), ("assistant", "Thinking."), ("user", "Just the number.")]
    assert await kit.store.list_sessions() == []
