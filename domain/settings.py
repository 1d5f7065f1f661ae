"""What the core needs to know from configuration, as plain values.

The composition root maps the pydantic config onto these, so the domain never depends on the
config schema or its library.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Literal

from rustyclaw.domain.bindings import Binding

DmScope = Literal["main", "per-peer", "per-channel-peer", "per-account-channel-peer"]
Scope = Literal["per-sender", "global"]
ResetMode = Literal["daily", "idle"]


@dataclass(frozen=True, slots=True)
class ResetPolicy:
    """OpenClaw's reset: daily at `at_hour` (local time) and/or after `idle_minutes` of silence;
    when both apply, whichever expires first wins."""

    mode: ResetMode = "daily"
    at_hour: int = 4
    idle_minutes: int | None = None


@dataclass(frozen=True, slots=True)
class SessionSettings:
    scope: Scope = "per-sender"
    dm_scope: DmScope = "main"
    main_key: str = "main"
    reset: ResetPolicy = field(default_factory=ResetPolicy)
    reset_by_type: dict[str, ResetPolicy] = field(default_factory=dict)
    reset_by_channel: dict[str, ResetPolicy] = field(default_factory=dict)
    reset_triggers: tuple[str, ...] = ("/new", "/reset")
    timezone: tzinfo | None = None


@dataclass(frozen=True, slots=True)
class PruningSettings:
    keep_last_assistants: int = 3
    soft_trim_max_chars: int = 4000
    soft_trim_head_chars: int = 1500
    soft_trim_tail_chars: int = 1500


@dataclass(frozen=True, slots=True)
class AgentSettings:
    default_agent: str = "main"
    agent_ids: tuple[str, ...] = ("main",)
    context_tokens: int = 128_000
    max_completion_tokens: int = 1024
    temperature: float | None = None
    max_tool_iterations: int = 8
    bootstrap_max_chars: int = 20_000
    bootstrap_total_max_chars: int = 150_000
    system_prompt: str | None = None
    max_message_chars: int = 16_000
    agent_models: dict[str, str] = field(default_factory=dict)
    # The tasks `llm.routes` names, and per agent the ones its `agents.list[].routes` name: a task
    # an agent routes itself goes to that route rather than to the agent's `model`, and an image
    # is only sent where a `vision` route exists (domain/task_routing.py).
    routed_tasks: frozenset[str] = frozenset({"default"})
    agent_tasks: dict[str, frozenset[str]] = field(default_factory=dict)
    pruning: PruningSettings = field(default_factory=PruningSettings)
    # gateway.requestTimeoutSeconds: the deadline of one whole turn (model calls and tools); None: none.
    turn_timeout_seconds: float | None = None
    # OpenClaw's `bindings`, in the order configured (domain/bindings.py picks the most specific).
    bindings: tuple[Binding, ...] = ()
