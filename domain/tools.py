"""The tool registry: which tools the model sees, and running a call through the policy."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from typing import Any, Literal, Protocol

import anyio
import msgspec

from rustyclaw.domain.errors import ToolError
from rustyclaw.domain.messages import ToolCall
from rustyclaw.ports.llm import ToolSpec
from rustyclaw.ports.tools import Tool, ToolContext

log = logging.getLogger("rustyclaw.tools")

Verdict = Literal["allow", "deny", "elevated"]

# A tool call that runs longer than this is abandoned with an error the model sees (a `read` of a
# named pipe, a hung web server): the turn goes on, and `/stop` cancels it the same way.
DEFAULT_TOOL_TIMEOUT_SECONDS = 120.0


class PolicyDecision(msgspec.Struct, frozen=True, kw_only=True):
    verdict: Verdict
    rule: str


class ToolPolicy(Protocol):
    def decide(self, tool: str, context: ToolContext) -> PolicyDecision: ...


class AllowAll:
    """The policy before any is configured: every registered tool may run."""

    def decide(self, tool: str, context: ToolContext) -> PolicyDecision:
        return PolicyDecision(verdict="allow", rule="default")


class ToolOutcome(msgspec.Struct, frozen=True, kw_only=True):
    content: str
    status: Literal["done", "denied", "error"]


class ToolRegistry:
    def __init__(self, tools: Iterable[Tool] = (), policy: ToolPolicy | None = None) -> None:
        self._tools: dict[str, Tool] = {}
        self.policy: ToolPolicy = policy or AllowAll()
        self.timeout_seconds = DEFAULT_TOOL_TIMEOUT_SECONDS
        self.tool_timeouts: dict[str, float] = {}
        for tool in tools:
            self.register(tool)

    def set_timeouts(self, default: float, per_tool: Mapping[str, float] | None = None) -> None:
        """`default` seconds for every tool, `per_tool` overrides by tool name (`tools.timeouts`)."""
        self.timeout_seconds = default
        self.tool_timeouts = dict(per_tool or {})

    def timeout_for(self, name: str) -> float:
        return self.tool_timeouts.get(name, self.timeout_seconds)

    def register(self, tool: Tool) -> None:
        self._tools[tool.spec.name] = tool

    def names(self) -> list[str]:
        return list(self._tools)

    def specs(self, context: ToolContext) -> tuple[ToolSpec, ...]:
        """Only tools the policy could allow are offered, which also keeps the prompt small."""
        return tuple(
            tool.spec
            for name, tool in self._tools.items()
            if self._allowed(self.policy.decide(name, context), context)
        )

    async def execute(self, call: ToolCall, context: ToolContext) -> ToolOutcome:
        tool = self._tools.get(call.name)
        if tool is None:
            return ToolOutcome(content=f"error: unknown tool '{call.name}'", status="error")
        decision = self.policy.decide(call.name, context)
        if not self._allowed(decision, context):
            log.info("tool denied", extra={"tool": call.name, "rule": decision.rule})
            return ToolOutcome(
                content=f"error: tool '{call.name}' is not allowed here ({decision.rule})", status="denied"
            )
        limit = self.timeout_for(call.name)
        try:
            arguments = _parse_arguments(call.arguments)
            with anyio.fail_after(limit if limit > 0 else math.inf):
                return ToolOutcome(content=await tool.run(arguments, context), status="done")
        except ToolError as exc:
            return ToolOutcome(content=f"error: {exc}", status="error")
        except TimeoutError:
            log.warning("tool timed out", extra={"tool": call.name, "seconds": limit})
            return ToolOutcome(
                content=f"error: tool '{call.name}' did not finish within {limit:g} s and was stopped",
                status="error",
            )

    @staticmethod
    def _allowed(decision: PolicyDecision, context: ToolContext) -> bool:
        return decision.verdict == "allow" or (decision.verdict == "elevated" and context.elevated)


def _parse_arguments(text: str) -> dict[str, Any]:
    if not text.strip():
        return {}
    try:
        value = msgspec.json.decode(text)
    except msgspec.DecodeError as exc:
        raise ToolError(f"arguments are not valid JSON ({exc})") from exc
    if not isinstance(value, dict):
        raise ToolError("arguments must be a JSON object")
    return value
