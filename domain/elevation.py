"""Elevated mode: who may switch a session to elevated, and the `/elevated` command's effect."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from rustyclaw.domain.messages import SessionEntry

ON_LEVELS = frozenset({"on", "ask", "full"})
OFF_WORDS = frozenset({"off", "false", "no", "0"})


@dataclass(frozen=True, slots=True)
class ElevatedSettings:
    """`tools.elevated`: off unless enabled; `allow_from` maps a channel to sender ids ("*": anyone)."""

    enabled: bool = False
    allow_from: dict[str, tuple[str, ...]] = field(default_factory=dict)


class ElevationGate(Protocol):
    """Answers whether a sender may turn elevated mode on for a session of an agent."""

    def elevation_refusal(self, agent_id: str, channel: str, sender_id: str) -> str | None:
        """None when allowed, else the reason to tell the sender."""
        ...


def elevation_refusal(
    settings: ElevatedSettings, agent: ElevatedSettings | None, agent_id: str, channel: str, sender_id: str
) -> str | None:
    """The global setting must allow it; a per-agent setting can only narrow it further."""
    if not settings.enabled:
        return "elevated mode is disabled (tools.elevated.enabled is false)"
    if not _listed(settings.allow_from, channel, sender_id):
        return f"sender {sender_id!r} is not in tools.elevated.allowFrom.{channel}"
    if agent is not None:
        if not agent.enabled:
            return f"elevated mode is disabled for agent {agent_id!r}"
        if agent.allow_from and not _listed(agent.allow_from, channel, sender_id):
            return f"sender {sender_id!r} is not in agent {agent_id!r}'s elevated.allowFrom.{channel}"
    return None


def _listed(allow_from: dict[str, tuple[str, ...]], channel: str, sender_id: str) -> bool:
    senders = allow_from.get(channel, ())
    return "*" in senders or sender_id in senders


def elevated_command(entry: SessionEntry, args: str, refusal: str | None) -> str:
    """`/elevated [on|ask|full|off]`; changes `entry.elevated_level` in place (the caller persists it).

    Turning it off is always allowed; turning it on needs `refusal` to be None.
    """
    word = args.strip().lower()
    if not word:
        return f"Elevated mode: {entry.elevated_level}. Use /elevated on or /elevated off."
    if word in OFF_WORDS:
        entry.elevated_level = "off"
        return "Elevated mode off."
    if word not in ON_LEVELS:
        return "Usage: /elevated on|off (ask and full are accepted as on)."
    if refusal is not None:
        return f"Elevated mode refused: {refusal}."
    entry.elevated_level = word
    return f"Elevated mode {word}: tools that need elevation may run in this session."
