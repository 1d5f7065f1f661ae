"""The policy with groups known only at run time (MCP servers' tools) and chained gates (pure)."""

from __future__ import annotations

from rustyclaw.domain.policy import ConfiguredPolicy, PolicySettings, chain_gates, expand, matches
from rustyclaw.domain.tools import PolicyDecision
from rustyclaw.ports.tools import ToolContext

CTX = ToolContext(agent_id="main", session_key="agent:main:main", session_id="s", channel="web", sender_id="u")
GROUPS = {"group:mcp": ("files__read", "web__add"), "group:mcp:files": ("files__read",), "bundle-mcp": ("files__read", "web__add")}  # noqa: E501


def test_dynamic_groups_match_only_when_given() -> None:
    assert matches("group:mcp", "files__read", GROUPS)
    assert not matches("group:mcp", "files__read")  # unknown group without the mapping: no match
    assert matches("group:mcp:files", "files__read", GROUPS) and not matches("group:mcp:files", "web__add", GROUPS)
    assert matches("group:fs", "read", GROUPS)  # the static groups still win
    assert expand(["group:mcp:files", "read"], ["read", "files__read", "web__add"], GROUPS) == ["read", "files__read"]


def test_groups_are_read_live_and_profiles_include_mcp() -> None:
    live: dict[str, tuple[str, ...]] = {"group:mcp": ()}
    policy = ConfiguredPolicy(PolicySettings(profile="coding"), groups=live)
    assert policy.decide("web__add", CTX).verdict == "deny"
    live["group:mcp"] = ("web__add",)  # a server listed its tools after the policy was built
    assert policy.decide("web__add", CTX).verdict == "allow"
    assert ConfiguredPolicy(PolicySettings(profile="minimal"), groups=live).decide("web__add", CTX).verdict == "deny"
    denied = ConfiguredPolicy(PolicySettings(deny=("group:mcp",)), groups=live).decide("web__add", CTX)
    assert denied.verdict == "deny" and denied.rule == "tools.deny: group:mcp"


def test_chained_gates_first_objection_decides() -> None:
    def no_web(tool: str, context: ToolContext) -> PolicyDecision | None:
        return PolicyDecision(verdict="deny", rule="no web") if tool.startswith("web__") else None

    def elevate_exec(tool: str, context: ToolContext) -> PolicyDecision | None:
        return PolicyDecision(verdict="elevated", rule="exec needs elevation") if tool == "exec" else None

    gate = chain_gates(None, no_web, elevate_exec)
    assert gate("web__add", CTX) == PolicyDecision(verdict="deny", rule="no web")
    assert gate("exec", CTX) == PolicyDecision(verdict="elevated", rule="exec needs elevation")
    assert gate("read", CTX) is None
    policy = ConfiguredPolicy(PolicySettings())
    policy.add_gate(no_web)
    assert policy.decide("web__add", CTX).rule == "no web" and policy.decide("read", CTX).verdict == "allow"
