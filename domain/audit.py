"""Audit of tool calls: one record per decision, arguments summarised with secret-looking values masked."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import msgspec

from rustyclaw.domain.messages import ToolCall
from rustyclaw.domain.tools import ToolOutcome, ToolRegistry
from rustyclaw.ports.tools import ToolContext

if TYPE_CHECKING:
    from rustyclaw.ports.audit import AuditSink

SUMMARY_CHARS = 300
VALUE_CHARS = 80
MASK = "***"
_SECRET_KEY = re.compile(r"(?i)(pass(word|wd)?|secret|token|api[_-]?key|auth|cookie|credential|private[_-]?key)")
# Values that look like credentials whatever their key: bearer headers, common key prefixes, long
# unbroken base64/hex runs.
_SECRET_VALUE = re.compile(
    r"(?i)(bearer\s+\S+|\b(sk|pk|ghp|gho|xox[abp]|AKIA)[-_A-Za-z0-9]{12,}|\b[A-Za-z0-9+/_=-]{40,}\b)"
)


class AuditRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One decision: who asked for which tool, with what (summarised), and what the policy said."""

    time: float
    agent: str
    session: str
    sender: str
    channel: str
    tool: str
    arguments: str
    verdict: str
    rule: str
    status: str


def _mask_value(key: str, value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _mask_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_value(key, v) for v in value]
    if _SECRET_KEY.search(key) and value not in (None, "", False):
        return MASK
    if isinstance(value, str):
        text = _SECRET_VALUE.sub(MASK, value)
        return text if len(text) <= VALUE_CHARS else text[:VALUE_CHARS] + f"...[{len(text)} chars]"
    return value


def summarize_arguments(raw: str, limit: int = SUMMARY_CHARS) -> str:
    """The call's JSON arguments with secret-looking values masked, long strings cut, all capped."""
    try:
        value = msgspec.json.decode(raw) if raw.strip() else {}
    except msgspec.DecodeError:
        value = _SECRET_VALUE.sub(MASK, raw)
    masked = _mask_value("", value) if not isinstance(value, str) else value
    text = masked if isinstance(masked, str) else msgspec.json.encode(masked).decode()
    return text if len(text) <= limit else text[: limit - 3] + "..."


class AuditedRegistry(ToolRegistry):
    """A ToolRegistry that records every executed call's decision and outcome in the audit sink.

    Listing tools for the prompt (`specs`) is not audited: it is not a decision about a call.
    """

    def __init__(self, tools: Any = (), policy: Any = None, *, audit: AuditSink | None = None,
                 clock: Callable[[], float]) -> None:
        super().__init__(tools, policy)
        self._audit = audit
        self._clock = clock

    async def execute(self, call: ToolCall, context: ToolContext) -> ToolOutcome:
        decision = self.policy.decide(call.name, context)
        outcome = await super().execute(call, context)
        if self._audit is not None:
            await self._audit.record(AuditRecord(
                time=self._clock(), agent=context.agent_id, session=context.session_key,
                sender=context.sender_id, channel=context.channel, tool=call.name,
                arguments=summarize_arguments(call.arguments), verdict=decision.verdict,
                rule=decision.rule, status=outcome.status,
            ))
        return outcome
