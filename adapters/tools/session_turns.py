"""Turns that one session starts in another: `sessions_send` (with a wait) and `sessions_spawn`.

Both hand an InboundMessage of the gateway's own `session` channel, addressed to an exact session
key, to the gateway (bound once it exists: the tools are built before it). The target session's
turn lock keeps its turns in order; access rules do not apply (nobody outside sent it).

`sessions_spawn` (OpenClaw's parameters: `task`, `agentId`, `label`, `runTimeoutSeconds`) runs one
turn in a fresh child session `agent:<agentId>:subagent:<uuid>` and returns its answer into the
calling turn. Limits: the spawn depth (`agents.subagents.maxSpawnDepth`; a session whose depth is
unknown counts as deepest, so nothing spawns without limit), children running at once per session,
the run time, the completion tokens of each model call, the tokens of the whole child run
(`maxTotalTokens`: prompt + completion over every model call; reached, status "token_budget"),
and the agents this one may spawn
(`agents.list[].subagents.allowAgents`, only itself by default). A child never gets a tool its
parent's policy refuses (`parent_gate`, added to the policy), and never runs elevated.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio
from anyio.abc import TaskGroup

from rustyclaw.domain.errors import InvalidInputError, ToolError
from rustyclaw.domain.events import Reply
from rustyclaw.domain.messages import InboundMessage, TurnOptions
from rustyclaw.domain.session_keys import agent_of
from rustyclaw.domain.tools import PolicyDecision
from rustyclaw.ports.gateway import GatewayService
from rustyclaw.ports.llm import ToolSpec
from rustyclaw.ports.tools import ToolContext

SESSION_CHANNEL = "session"
TASK_CHARS = 8000
SEND_TIMEOUT_MAX = 600.0


@dataclass(frozen=True, slots=True)
class SpawnLimits:
    max_depth: int = 1
    max_children: int = 5
    run_timeout_seconds: float = 120.0
    max_tokens: int = 1024
    max_total_tokens: int = 32000
    # agent id -> agents it may spawn (None: only itself); "*" in the list: any.
    allow_agents: Mapping[str, tuple[str, ...] | None] = field(default_factory=dict)


class SessionTurns:
    """Starts turns in other sessions through the gateway; `bind` it once the gateway exists, and
    run `run_background` as a lifecycle service for turns nobody waits for."""

    def __init__(self) -> None:
        self._gateway: GatewayService | None = None
        self._group: TaskGroup | None = None

    def bind(self, gateway: GatewayService) -> None:
        self._gateway = gateway

    async def run_background(self, ready: Callable[[], None]) -> None:
        async with anyio.create_task_group() as group:
            self._group = group
            ready()
            try:
                await anyio.sleep_forever()
            finally:
                self._group = None
                group.cancel_scope.cancel()

    async def run(self, key: str, text: str, sender: str, options: TurnOptions | None = None) -> Reply | None:
        if self._gateway is None:
            raise ToolError("turns in other sessions are not available here (no gateway is running)")
        message = InboundMessage(
            channel=SESSION_CHANNEL, peer_id=sender, sender_id=sender, sender_name=f"session {sender}",
            text=text, target_key=key, options=options,
        )
        try:
            return await self._gateway.handle(message)
        except InvalidInputError as exc:
            raise ToolError(str(exc)) from exc

    def start(self, key: str, text: str, sender: str) -> None:
        group = self._group
        if group is None:
            raise ToolError("background turns are not running here; pass timeoutSeconds > 0 to wait for the reply")

        async def turn() -> None:
            # The target session keeps the message and its answer; nobody waits for either.
            with contextlib.suppress(ToolError):
                await self.run(key, text, sender)

        group.start_soon(turn)

    async def run_waiting(self, key: str, text: str, sender: str, wait_seconds: float) -> tuple[bool, Reply | None]:
        """(finished, reply): waits up to `wait_seconds`; a turn still running then goes on in the
        background when the background service runs (else it is cancelled, its message kept)."""
        group = self._group
        if group is None:
            reply: Reply | None = None
            with anyio.move_on_after(wait_seconds) as scope:
                reply = await self.run(key, text, sender)
            return not scope.cancelled_caught, reply
        done = anyio.Event()
        outcome: list[Reply | None] = []
        failure: list[ToolError] = []

        async def turn() -> None:
            try:
                outcome.append(await self.run(key, text, sender))
            except ToolError as exc:
                failure.append(exc)
            finally:
                done.set()

        group.start_soon(turn)
        with anyio.move_on_after(wait_seconds):
            await done.wait()
        if failure:
            raise failure[0]
        return (True, outcome[0]) if outcome else (False, None)


def _text(arguments: dict[str, Any], *names: str, limit: int) -> str:
    for name in names:
        value = arguments.get(name)
        if value is not None:
            if not isinstance(value, str) or not value.strip():
                raise ToolError(f"'{name}' must be a non-empty string")
            if len(value) > limit:
                raise ToolError(f"'{name}' is longer than {limit} characters")
            return value
    raise ToolError(f"'{names[0]}' is required")


def _seconds(arguments: dict[str, Any], name: str, default: float, cap: float) -> float:
    value = arguments.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ToolError(f"'{name}' must be a number of seconds, 0 or more")
    return min(float(value), cap)


def _status(reply: Reply | None, **extra: object) -> str:
    if reply is None:
        return json.dumps({"status": "error", "error": "the session dropped the message", **extra})
    if reply.error:
        return json.dumps({"status": "error", "error": reply.error, **extra})
    return json.dumps({"status": "ok", "reply": reply.text, **extra})


class SessionsSendTool:
    """`sessions_send` (OpenClaw's `sessionKey`, `message`, `timeoutSeconds`; `key`/`text` also accepted):
    a turn in another of this agent's sessions; waits up to timeoutSeconds for its reply (0: starts it
    and returns). The reply stays in that session's transcript either way."""

    spec = ToolSpec(
        name="sessions_send", description="Message a session, awaiting its reply.",
        parameters={"type": "object", "properties": {
            "sessionKey": {"type": "string"}, "message": {"type": "string"},
            "timeoutSeconds": {"type": "number"}}},
    )

    def __init__(self, sessions_get: Callable[[str], Awaitable[object | None]], turns: SessionTurns,
                 default_timeout: float = 30.0) -> None:
        self._get = sessions_get
        self._turns = turns
        self._default_timeout = default_timeout

    async def run(self, arguments: dict[str, Any], context: ToolContext) -> str:
        key = _text(arguments, "sessionKey", "key", limit=500).strip()
        if agent_of(key) != context.agent_id:
            raise ToolError(f"session {key!r} belongs to another agent")
        if key == context.session_key:
            raise ToolError("that is this session; sessions_send is for other sessions")
        text = _text(arguments, "message", "text", limit=TASK_CHARS)
        if await self._get(key) is None:
            raise ToolError(f"no session {key!r} (see sessions_list)")
        timeout = _seconds(arguments, "timeoutSeconds", self._default_timeout, SEND_TIMEOUT_MAX)
        if timeout == 0:
            self._turns.start(key, text, context.session_key)
            return json.dumps({"status": "accepted", "sessionKey": key})
        finished, reply = await self._turns.run_waiting(key, text, context.session_key, timeout)
        if not finished:
            return json.dumps({"status": "timeout", "sessionKey": key,
                               "error": f"no reply within {timeout:g} s; the message stays in that session"})
        return _status(reply, sessionKey=key)


class SessionsSpawnTool:
    """`sessions_spawn`: see the module docstring. `label` and `runTimeoutSeconds` (OpenClaw's) are
    accepted but left out of the schema the model sees, which the prompt-token budget keeps small
    (so is `required`: the tool names a missing argument itself)."""

    spec = ToolSpec(
        name="sessions_spawn", description="Ask a sub-agent to do a task.",
        parameters={"type": "object", "properties": {
            "task": {"type": "string"}, "agentId": {"type": "string"}}},
    )

    def __init__(self, turns: SessionTurns, limits: SpawnLimits, known_agents: tuple[str, ...]) -> None:
        self._turns = turns
        self._limits = limits
        self._known = known_agents
        # child session key -> (its depth, the parent's tool context); kept for the process's life,
        # so a child's later turns (sessions_send into it) still count its depth and its parent.
        self._children: dict[str, tuple[int, ToolContext]] = {}
        self._running: dict[str, int] = {}

    def depth_of(self, key: str) -> int:
        known = self._children.get(key)
        if known is not None:
            return known[0]
        # A sub-agent session this process did not spawn (an earlier run): deepest, so it spawns nothing.
        return self._limits.max_depth if ":subagent:" in key else 0

    def parent_of(self, key: str) -> ToolContext | None:
        known = self._children.get(key)
        return known[1] if known is not None else None

    def _allowed(self, parent: str, child: str) -> bool:
        allowed = self._limits.allow_agents.get(parent)
        if allowed is None:
            return child == parent
        return "*" in allowed or child in allowed

    async def run(self, arguments: dict[str, Any], context: ToolContext) -> str:
        task = _text(arguments, "task", limit=TASK_CHARS)
        agent_id = arguments.get("agentId") or context.agent_id
        if not isinstance(agent_id, str) or agent_id not in self._known:
            raise ToolError(f"unknown agentId {agent_id!r} (agents: {', '.join(self._known)})")
        if not self._allowed(context.agent_id, agent_id):
            raise ToolError(f"agent {context.agent_id!r} may not spawn {agent_id!r} "
                            "(agents.list[].subagents.allowAgents)")
        depth = self.depth_of(context.session_key) + 1
        if depth > self._limits.max_depth:
            raise ToolError(f"spawn depth {depth} is over agents.subagents.maxSpawnDepth "
                            f"({self._limits.max_depth}): do the task yourself")
        running = self._running.get(context.session_key, 0)
        if running >= self._limits.max_children:
            raise ToolError(f"this session already runs {running} sub-agents "
                            "(agents.subagents.maxChildrenPerAgent)")
        timeout = _seconds(arguments, "runTimeoutSeconds", self._limits.run_timeout_seconds,
                           self._limits.run_timeout_seconds) or self._limits.run_timeout_seconds
        run_id = uuid.uuid4().hex
        child = f"agent:{agent_id}:subagent:{run_id}"
        self._children[child] = (depth, context)
        self._running[context.session_key] = running + 1
        reply: Reply | None = None
        try:
            with anyio.move_on_after(timeout) as scope:
                reply = await self._turns.run(child, task, context.session_key,
                                              TurnOptions(max_tokens=self._limits.max_tokens,
                                                          token_budget=self._limits.max_total_tokens))
        finally:
            self._running[context.session_key] -= 1
        label = arguments.get("label")
        extra: dict[str, object] = {"runId": run_id, "childSessionKey": child}
        if isinstance(label, str) and label:
            extra["label"] = label
        if scope.cancelled_caught:
            return json.dumps({"status": "timeout", "error": f"the sub-agent did not finish within {timeout:g} s",
                               **extra})
        if reply is not None and reply.finish_reason == "token_budget":
            return json.dumps({"status": "token_budget", "error": (
                f"the sub-agent reached its token budget ({self._limits.max_total_tokens}, "
                "agents.subagents.maxTotalTokens) and was stopped"), "partial": reply.text, **extra})
        return _status(reply, **extra)

    def parent_gate(self, decide: Callable[[str, ToolContext], PolicyDecision]) -> Callable[
            [str, ToolContext], PolicyDecision | None]:
        """A policy gate: a child's tool call is refused when its parent's policy refuses that tool."""

        def gate(tool: str, context: ToolContext) -> PolicyDecision | None:
            parent = self.parent_of(context.session_key)
            if parent is None:
                return None
            verdict = decide(tool, parent)
            if verdict.verdict == "deny":
                return PolicyDecision(verdict="deny", rule=f"parent session {parent.session_key}: {verdict.rule}")
            return None

        return gate
