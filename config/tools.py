"""The `tools` section: OpenClaw's tool policy (profile, allow/deny, by provider, elevated) and settings."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from rustyclaw.config.base import Section, section
from rustyclaw.domain.policy import unknown_group


def _known_groups(patterns: list[str]) -> list[str]:
    # As OpenClaw: an unknown `group:` name is an error (with the nearest valid one), not a no-op.
    problems = [p for p in map(unknown_group, patterns) if p is not None]
    if problems:
        raise ValueError("; ".join(problems))
    return patterns


ToolPatterns = Annotated[list[str], AfterValidator(_known_groups)]


class AgentElevatedConfig(Section):
    """`agents.list[].tools.elevated`: can only narrow `tools.elevated` (off, or fewer senders)."""

    enabled: bool = True
    # Empty: no narrowing; else a sender must be listed here as well as in tools.elevated.allowFrom.
    allow_from: dict[str, list[str]] = Field(default_factory=dict)


class ToolPolicyConfig(Section):
    """An allow/deny pair, as used per provider, per sender and per agent; deny wins.

    Outside `tools.allow`/`tools.deny` these lists only restrict: a non-empty `allow` must name
    the tool too. `elevated` is read only under `agents.list[].tools`.
    """

    allow: ToolPatterns = Field(default_factory=list)
    deny: ToolPatterns = Field(default_factory=list)
    elevated: AgentElevatedConfig | None = None


class ElevatedConfig(Section):
    """`/elevated on`: allowed only when enabled and the sender is listed for the channel."""

    enabled: bool = False
    allow_from: dict[str, list[str]] = Field(default_factory=dict)


class WebSearchConfig(Section):
    """The web_search tool's backend."""

    provider: Literal["searxng"] = "searxng"
    base_url: str | None = None


class WebFetchConfig(Section):
    """The web_fetch tool's limits."""

    allow_private_network: bool = False
    max_bytes: int = Field(2_000_000, ge=1)
    timeout_seconds: float = Field(20.0, gt=0)


class WebToolsConfig(Section):
    """Web tools."""

    search: WebSearchConfig = section()
    fetch: WebFetchConfig = section()


class ExecConfig(Section):
    """The exec tool; `host: true` runs commands on the host instead of the sandbox (dangerous)."""

    host: bool = False


class ToolsConfig(Section):
    """Which tools the model may call and how they behave."""

    profile: Literal["minimal", "coding", "messaging", "full"] = "full"
    allow: ToolPatterns = Field(default_factory=list)
    deny: ToolPatterns = Field(default_factory=list)
    by_provider: dict[str, ToolPolicyConfig] = Field(default_factory=dict)
    # Keyed `channel:senderId`, `channel:*` or `*`; every matching entry applies (restrict only).
    by_sender: dict[str, ToolPolicyConfig] = Field(default_factory=dict)
    elevated: ElevatedConfig = section()
    web: WebToolsConfig = section()
    exec: ExecConfig = section()
    # Every tool call is stopped after this many seconds (the turn goes on with an error for the
    # model); `timeouts` overrides it per tool name, e.g. {exec: 600, read: 10}.
    timeout_seconds: float = Field(120.0, gt=0)
    timeouts: dict[str, Annotated[float, Field(gt=0)]] = Field(default_factory=dict)
