"""The tool policy engine (pure): OpenClaw's profiles, groups, wildcards and allow/deny lists.

Order of evaluation for one tool name in one context:
1. Every deny list that applies (tools.deny, tools.byProvider[..].deny, the agent's deny, the
   sender's deny): a match denies. Deny always wins.
2. The base set: the profile's tools plus `tools.allow` (allow adds to the profile).
3. Narrowing allow lists: byProvider (keyed `provider/model` or `provider`), the agent's
   (`agents.list[].tools`), the sender's (`tools.bySender`, keyed `channel:senderId`,
   `channel:*` or `*`). A non-empty list must name the tool; these can only restrict.
4. The gate (where the tool would run, e.g. exec on the host): it may deny or ask for elevation.
   "elevated" is only returned for a sender who may elevate; others get "deny", so a group
   session elevated by its owner does not lend that power to the other members.

Patterns: a tool name, `group:<name>`, an alias (`bash` is `exec`), or a `*`/`?` wildcard.
Groups of tools known only at run time (MCP servers' `group:mcp`, `group:mcp:<server>`, OpenClaw's
`bundle-mcp`) come from the live `groups` mapping the policy is given.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

from rustyclaw.domain.elevation import ElevatedSettings, elevation_refusal
from rustyclaw.domain.tools import PolicyDecision
from rustyclaw.ports.tools import ToolContext

# OpenClaw's tool groups and profiles, as documented for 2026.7.1 (docs/gateway/config-tools.md,
# "Tool profiles" and "Tool groups"); docs/openclaw.md keeps the table.
_BUILT_IN: dict[str, tuple[str, ...]] = {
    "group:runtime": ("exec", "process", "code_execution"),
    "group:fs": ("read", "write", "edit", "apply_patch"),
    "group:sessions": ("sessions_list", "sessions_history", "sessions_send", "sessions_spawn", "sessions_yield",
                       "subagents", "session_status"),
    "group:memory": ("memory_search", "memory_get"),
    "group:web": ("web_search", "x_search", "web_fetch"),
    "group:ui": ("browser", "canvas"),
    "group:automation": ("heartbeat_respond", "cron", "gateway"),
    "group:messaging": ("message",),
    "group:nodes": ("nodes",),
    "group:agents": ("agents_list", "get_goal", "create_goal", "update_goal", "update_plan", "skill_workshop"),
    "group:media": ("image", "image_generate", "music_generate", "video_generate", "tts"),
}  # fmt: skip
# `group:openclaw`: every built-in tool above except the file, runtime and canvas tools.
_NOT_OPENCLAW = frozenset({"read", "write", "edit", "apply_patch", "exec", "process", "canvas"})
GROUPS: dict[str, tuple[str, ...]] = {
    **_BUILT_IN,
    "group:openclaw": tuple(
        dict.fromkeys(t for tools in _BUILT_IN.values() for t in tools if t not in _NOT_OPENCLAW)
    ),
}
ALIASES: dict[str, str] = {"bash": "exec", "apply-patch": "apply_patch"}
# OpenClaw: `coding` and `messaging` also allow configured MCP servers' tools (`bundle-mcp`);
# `minimal` hides them.
PROFILES: dict[str, tuple[str, ...]] = {
    "minimal": ("session_status",),
    "coding": ("group:fs", "group:runtime", "group:web", "group:sessions", "group:memory", "cron", "get_goal",
               "create_goal", "update_goal", "update_plan", "skill_workshop", "image", "image_generate",
               "music_generate", "video_generate", "group:mcp"),
    "messaging": ("group:messaging", "sessions_list", "sessions_history", "sessions_send", "session_status",
                  "group:mcp"),
    "full": ("*",),
}  # fmt: skip


def unknown_group(pattern: str) -> str | None:
    """Why `pattern` names no tool group (with the nearest valid name), None when it is fine.

    OpenClaw refuses an unknown `group:` name instead of letting it match nothing."""
    entry = canonical(pattern)
    if not entry.startswith("group:") or entry in GROUPS:
        return None
    # Groups whose members are known only at run time (MCP servers, plugins).
    if entry in ("group:mcp", "group:plugins") or entry.startswith("group:mcp:"):
        return None
    from difflib import get_close_matches

    valid = [*GROUPS, "group:mcp", "group:plugins"]
    close = get_close_matches(entry, valid, n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}?" if close else f"valid groups: {', '.join(valid)}"
    return f"unknown tool group {pattern!r} ({hint})"


# Decides where a tool would run for this context; None means "no objection".
Gate = Callable[[str, ToolContext], PolicyDecision | None]
# Groups whose members are known at run time (name -> tool names), consulted after GROUPS.
DynamicGroups = Mapping[str, Collection[str]]
_NO_GROUPS: DynamicGroups = {}


@dataclass(frozen=True, slots=True)
class AllowDeny:
    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PolicySettings:
    """Plain values mapped from the `tools` section (and `agents.list[].tools`)."""

    profile: str = "full"
    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()
    by_provider: dict[str, AllowDeny] = field(default_factory=dict)
    by_agent: dict[str, AllowDeny] = field(default_factory=dict)
    by_sender: dict[str, AllowDeny] = field(default_factory=dict)
    elevated: ElevatedSettings = field(default_factory=ElevatedSettings)
    agent_elevated: dict[str, ElevatedSettings] = field(default_factory=dict)


def canonical(name: str) -> str:
    lowered = name.strip().lower()
    return ALIASES.get(lowered, lowered)


def matches(pattern: str, tool: str, groups: DynamicGroups = _NO_GROUPS) -> bool:
    """Whether one policy entry names the (canonical) tool."""
    entry = canonical(pattern)
    if entry in GROUPS:
        return tool in GROUPS[entry]
    if entry in groups:
        return tool in groups[entry]
    if entry.startswith("group:"):
        return False
    if "*" in entry or "?" in entry:
        return fnmatchcase(tool, entry)
    return entry == tool


def first_match(patterns: Iterable[str], tool: str, groups: DynamicGroups = _NO_GROUPS) -> str | None:
    return next((p for p in patterns if matches(p, tool, groups)), None)


def expand(patterns: Iterable[str], known: Iterable[str], groups: DynamicGroups = _NO_GROUPS) -> list[str]:
    """The known tool names a list of patterns admits (for `tools list`-style displays)."""
    pats = list(patterns)
    return [name for name in known if first_match(pats, canonical(name), groups) is not None]


def chain_gates(*gates: Gate | None) -> Gate:
    """One gate from several: the first that objects decides."""
    present = [g for g in gates if g is not None]

    def gate(tool: str, context: ToolContext) -> PolicyDecision | None:
        for one in present:
            decision = one(tool, context)
            if decision is not None and decision.verdict != "allow":
                return decision
        return None

    return gate


class ConfiguredPolicy:
    """The `ToolPolicy` the composition root installs; also the `/elevated` gate."""

    def __init__(self, settings: PolicySettings, gate: Gate | None = None, groups: DynamicGroups | None = None) -> None:
        if settings.profile not in PROFILES:
            raise ValueError(f"unknown tool profile {settings.profile!r}; use one of {', '.join(PROFILES)}")
        self.settings = settings
        self._gate = gate
        self.groups: DynamicGroups = groups if groups is not None else _NO_GROUPS

    def decide(self, tool: str, context: ToolContext) -> PolicyDecision:
        name = canonical(tool)
        lists = list(self._lists(context))
        for label, rules in lists:
            hit = first_match(rules.deny, name, self.groups)
            if hit is not None:
                return PolicyDecision(verdict="deny", rule=f"{label}.deny: {hit}")
        s = self.settings
        base = first_match(PROFILES[s.profile], name, self.groups)
        allowed_by = f"profile {s.profile}"
        if base is None:
            extra = first_match(s.allow, name, self.groups)
            if extra is None:
                return PolicyDecision(verdict="deny", rule=f"profile {s.profile} (not in tools.allow)")
            allowed_by = f"tools.allow: {extra}"
        for label, rules in lists[1:]:
            if rules.allow and first_match(rules.allow, name, self.groups) is None:
                return PolicyDecision(verdict="deny", rule=f"{label}.allow (not listed)")
        gated = self._gate(name, context) if self._gate is not None else None
        if gated is None or gated.verdict == "allow":
            return gated or PolicyDecision(verdict="allow", rule=allowed_by)
        if gated.verdict == "elevated":
            refusal = self.elevation_refusal(context.agent_id, context.channel, context.sender_id)
            if refusal is not None:
                return PolicyDecision(verdict="deny", rule=f"{gated.rule}; {refusal}")
        return gated

    def add_gate(self, gate: Gate) -> None:
        """Another gate after the ones given (e.g. which MCP servers an agent may use)."""
        self._gate = chain_gates(self._gate, gate)

    def elevation_refusal(self, agent_id: str, channel: str, sender_id: str) -> str | None:
        s = self.settings
        return elevation_refusal(s.elevated, s.agent_elevated.get(agent_id), agent_id, channel, sender_id)

    def _lists(self, context: ToolContext) -> Iterator[tuple[str, AllowDeny]]:
        """The global lists first, then every narrowing list that applies to this context."""
        s = self.settings
        yield "tools", AllowDeny(allow=s.allow, deny=s.deny)
        provider_key = self._provider_key(context.model)
        if provider_key is not None:
            yield f"tools.byProvider[{provider_key}]", s.by_provider[provider_key]
        agent = s.by_agent.get(context.agent_id)
        if agent is not None:
            yield f"agents[{context.agent_id}].tools", agent
        for key in (f"{context.channel}:{context.sender_id}", f"{context.channel}:*", "*"):
            sender = s.by_sender.get(key)
            if sender is not None:
                yield f"tools.bySender[{key}]", sender

    def _provider_key(self, model: str) -> str | None:
        if not model or not self.settings.by_provider:
            return None
        if model in self.settings.by_provider:
            return model
        provider = model.split("/", 1)[0]
        return provider if provider in self.settings.by_provider else None


def session_sandboxed(mode: str, session_key: str, main_session_key: str) -> bool:
    """OpenClaw's sandbox.mode: off, non-main (every session but the agent's main one), all."""
    return mode == "all" or (mode == "non-main" and session_key != main_session_key)


def exec_gate(sandbox_mode: str, main_key: str, host_allowed: bool,
              agent_modes: Mapping[str, str] | None = None) -> Gate:
    """`exec` in a sandboxed session is fine; on the host it needs tools.exec.host and elevation.
    `agent_modes`: agents with their own sandbox mode (agents.list[].sandbox.mode)."""
    own = dict(agent_modes or {})

    def gate(tool: str, context: ToolContext) -> PolicyDecision | None:
        if tool not in ("exec", "process"):
            return None
        mode = own.get(context.agent_id, sandbox_mode)
        if session_sandboxed(mode, context.session_key, f"agent:{context.agent_id}:{main_key}"):
            return None
        if not host_allowed:
            return PolicyDecision(
                verdict="deny",
                rule=f"sandbox.mode {mode} leaves this session on the host and tools.exec.host is false",
            )
        return PolicyDecision(verdict="elevated", rule="exec on the host needs /elevated on")

    return gate
