"""OpenClaw's agent bindings: which agent answers an inbound message.

A binding names an agent and the channel facts it matches. The most specific matching binding wins,
in OpenClaw's tiers: a peer, then a guild (Discord), then a team (Slack/Teams), then an explicit
account, then the channel (`accountId: "*"` or none); no match is the default agent. Within one
tier the binding listed first wins.

As in OpenClaw, a binding without `accountId` matches the channel's default account only, and
`accountId: "*"` is the channel-wide fallback. Bindings only pick the agent: access (pairing,
allowlists) has already let the message in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rustyclaw.domain.messages import InboundMessage

ANY_ACCOUNT = "*"
DEFAULT_ACCOUNT = "default"

# OpenClaw's older docs wrote `dm` for a direct chat.
_KIND_ALIASES = {"dm": "direct"}


@dataclass(frozen=True, slots=True)
class PeerMatch:
    kind: str  # direct | group | channel
    id: str


@dataclass(frozen=True, slots=True)
class Binding:
    agent_id: str
    channel: str
    account_id: str | None = None
    peer: PeerMatch | None = None
    guild_id: str | None = None
    team_id: str | None = None

    @property
    def tier(self) -> int:
        """Lower is more specific: peer 0, guild 1, team 2, an explicit account 3, the channel 4."""
        if self.peer is not None:
            return 0
        if self.guild_id is not None:
            return 1
        if self.team_id is not None:
            return 2
        if self.account_id is not None and self.account_id != ANY_ACCOUNT:
            return 3
        return 4

    def describe(self) -> str:
        parts = [self.channel]
        if self.account_id is not None:
            parts.append(f"account {self.account_id}")
        if self.peer is not None:
            parts.append(f"peer {self.peer.kind}:{self.peer.id}")
        if self.guild_id is not None:
            parts.append(f"guild {self.guild_id}")
        if self.team_id is not None:
            parts.append(f"team {self.team_id}")
        return ", ".join(parts)


def _peer_matches(peer: PeerMatch, message: InboundMessage) -> bool:
    kind = _KIND_ALIASES.get(peer.kind, peer.kind)
    if kind != message.chat_kind:
        return False
    if kind == "direct":
        # Direct peers are compared as OpenClaw keys them: lower-cased, and by the sender too (a
        # platform whose DM chat id differs from the user's id is matched by either).
        wanted = peer.id.strip().lower()
        return wanted in (message.peer_id.strip().lower(), message.sender_id.strip().lower())
    return peer.id == message.peer_id


def matches(binding: Binding, message: InboundMessage) -> bool:
    if binding.channel.lower() != message.channel.lower():
        return False
    account = binding.account_id
    if account is None:
        if message.account != DEFAULT_ACCOUNT:
            return False
    elif account != ANY_ACCOUNT and account != message.account:
        return False
    if binding.peer is not None and not _peer_matches(binding.peer, message):
        return False
    if binding.guild_id is not None and binding.guild_id != message.guild_id:
        return False
    return binding.team_id is None or binding.team_id == message.team_id


def bound_agent(bindings: Sequence[Binding], message: InboundMessage) -> Binding | None:
    """The most specific binding that matches the message (the first listed within a tier)."""
    best: Binding | None = None
    for binding in bindings:
        if matches(binding, message) and (best is None or binding.tier < best.tier):
            best = binding
    return best
