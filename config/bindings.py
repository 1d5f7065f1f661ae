"""`bindings`: OpenClaw's routing of inbound traffic to agents (docs: concepts/multi-agent).

    bindings:
      - agentId: work
        match: {channel: telegram, peer: {kind: direct, id: "123"}}
      - agentId: home
        match: {channel: discord, accountId: "*"}

A binding without `accountId` matches the channel's default account only; `"*"` is every account.
The most specific match wins (peer > guild > team > account > channel), else the default agent.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from rustyclaw.config.base import Identifier, Section


class PeerMatchConfig(Section):
    """One conversation: a direct chat with a user, a group or a channel (`dm` is OpenClaw's older `direct`)."""

    kind: Literal["direct", "dm", "group", "channel"]
    id: str = Field(min_length=1)


class BindingMatchConfig(Section):
    channel: str = Field(min_length=1)
    # None: the channel's default account only; "*": every account.
    account_id: str | None = None
    peer: PeerMatchConfig | None = None
    guild_id: str | None = None
    team_id: str | None = None


class BindingConfig(Section):
    """Messages that match `match` are answered by `agentId`."""

    agent_id: Identifier
    match: BindingMatchConfig
