"""The tool policy engine: profiles, groups, aliases, wildcards, deny wins, per provider/agent/sender."""

from __future__ import annotations

import pytest

from rustyclaw.domain.elevation import ElevatedSettings
from rustyclaw.domain.policy import (
    GROUPS,
    AllowDeny,
    ConfiguredPolicy,
    PolicySettings,
    exec_gate,
    expand,
    matches,
    session_sandboxed,
)
from rustyclaw.ports.tools import ToolContext

ALL = ["read", "write", "edit", "apply_patch", "exec", "process", "web_search", "web_fetch",
       "sessions_list", "sessions_history", "sessions_send", "session_status", "message", "memory_get",
       "browser", "cron", "my_plugin_tool"]


def ctx(**kw: object) -> ToolContext:
    base: dict[str, object] = {"agent_id": "main", "session_key": "agent:main:main", "session_id": "s",
                               "channel": "telegram", "sender_id": "42"}
    base.update(kw)
    return ToolContext(**base)  # type: ignore[arg-type]


def allowed(policy: ConfiguredPolicy, context: ToolContext | None = None) -> set[str]:
    c = context or ctx()
    return {name for name in ALL if policy.decide(name, c).verdict == "allow"}


def test_groups_hold_openclaws_members() -> None:
    assert GROUPS["group:fs"] == ("read", "write", "edit", "apply_patch")
    # OpenClaw 2026.7.1's tables (docs/gateway/config-tools.md, "Tool groups").
    assert set(GROUPS["group:runtime"]) == {"exec", "process", "code_execution"}
    assert set(GROUPS["group:web"]) == {"web_search", "x_search", "web_fetch"}
    assert set(GROUPS["group:media"]) == {"image", "image_generate", "music_generate", "video_generate", "tts"}
    assert set(GROUPS["group:automation"]) == {"heartbeat_respond", "cron", "gateway"}
    assert "read" not in GROUPS["group:openclaw"] and "web_fetch" in GROUPS["group:openclaw"]
    assert "session_status" in GROUPS["group:sessions"] and "sessions_spawn" in GROUPS["group:sessions"]
    assert matches("bash", "exec") and matches("BASH", "exec") and matches("group:runtime", "exec")
    assert matches("web_*", "web_fetch") and not matches("web_*", "read") and matches("*", "anything")
    assert matches("sessions_?ist", "sessions_list") and not matches("group:nope", "read")


@pytest.mark.parametrize(("profile", "expected"), [
    ("minimal", {"session_status"}),
    # OpenClaw's coding profile has the web tools and cron (docs/gateway/config-tools.md, "Tool profiles").
    ("coding", {"read", "write", "edit", "apply_patch", "exec", "process", "sessions_list", "web_search",
                "web_fetch", "cron", "sessions_history", "sessions_send", "session_status", "memory_get"}),
    ("messaging", {"message", "sessions_list", "sessions_history", "sessions_send", "session_status"}),
    ("full", set(ALL)),
])
def test_profiles(profile: str, expected: set[str]) -> None:
    assert allowed(ConfiguredPolicy(PolicySettings(profile=profile))) == expected


def test_the_rule_names_what_decided() -> None:
    policy = ConfiguredPolicy(PolicySettings(profile="minimal", allow=("web_*",), deny=("group:runtime",)))
    assert policy.decide("session_status", ctx()).rule == "profile minimal"
    assert policy.decide("web_fetch", ctx()).rule == "tools.allow: web_*"
    decision = policy.decide("bash", ctx())
    assert decision.verdict == "deny" and decision.rule == "tools.deny: group:runtime"
    read = policy.decide("read", ctx())
    assert read.verdict == "deny" and read.rule == "profile minimal (not in tools.allow)"


def test_allow_adds_to_the_profile_and_deny_wins_over_both() -> None:
    policy = ConfiguredPolicy(PolicySettings(profile="messaging", allow=("group:web", "read"), deny=("web_fetch",)))
    names = allowed(policy)
    assert {"web_search", "read", "message"} <= names
    assert "web_fetch" not in names and "exec" not in names
    # deny wins even against a wildcard allow and the full profile
    everything = ConfiguredPolicy(PolicySettings(profile="full", allow=("*",), deny=("*",)))
    assert allowed(everything) == set()
    assert everything.decide("read", ctx()).rule == "tools.deny: *"


def test_by_provider_narrows_by_provider_or_exact_model() -> None:
    policy = ConfiguredPolicy(PolicySettings(by_provider={
        "ollama": AllowDeny(allow=("group:fs", "session_status")),
        "ollama/tiny": AllowDeny(allow=("session_status",)),
        "vllm": AllowDeny(deny=("group:web",)),
    }))
    assert allowed(policy, ctx(model="ollama/llama3")) == {"read", "write", "edit", "apply_patch", "session_status"}
    assert allowed(policy, ctx(model="ollama/tiny")) == {"session_status"}
    assert "web_fetch" not in allowed(policy, ctx(model="vllm/qwen")) and "exec" in allowed(policy, ctx(model="vllm/q"))
    assert allowed(policy, ctx(model="llamacpp/x")) == set(ALL)
    denied = policy.decide("exec", ctx(model="ollama/llama3"))
    assert denied.verdict == "deny" and denied.rule == "tools.byProvider[ollama].allow (not listed)"
    # a provider allow list cannot add what the profile does not give
    narrow = ConfiguredPolicy(PolicySettings(profile="minimal", by_provider={"x": AllowDeny(allow=("read",))}))
    assert allowed(narrow, ctx(model="x/m")) == set()


def test_per_agent_lists_only_restrict() -> None:
    policy = ConfiguredPolicy(PolicySettings(profile="coding", by_agent={
        "reader": AllowDeny(allow=("read", "message")),
        "noexec": AllowDeny(deny=("bash",)),
    }))
    assert allowed(policy, ctx(agent_id="reader")) == {"read"}  # message is not in the coding profile
    assert "exec" not in allowed(policy, ctx(agent_id="noexec")) and "read" in allowed(policy, ctx(agent_id="noexec"))
    assert policy.decide("exec", ctx(agent_id="noexec")).rule == "agents[noexec].tools.deny: bash"
    assert "exec" in allowed(policy, ctx(agent_id="main"))


def test_per_sender_exact_channel_wildcard_and_global() -> None:
    policy = ConfiguredPolicy(PolicySettings(by_sender={
        "telegram:42": AllowDeny(deny=("group:runtime",)),
        "telegram:*": AllowDeny(deny=("message",)),
        "discord:7": AllowDeny(allow=("session_status", "read")),
        "*": AllowDeny(deny=("cron",)),
    }))
    owner = allowed(policy, ctx(sender_id="42"))
    assert "exec" not in owner and "message" not in owner and "cron" not in owner and "read" in owner
    other = allowed(policy, ctx(sender_id="43"))
    assert "exec" in other and "message" not in other
    assert allowed(policy, ctx(channel="discord", sender_id="7")) == {"session_status", "read"}
    assert policy.decide("exec", ctx(sender_id="42")).rule == "tools.bySender[telegram:42].deny: group:runtime"
    assert policy.decide("web_fetch", ctx(channel="discord", sender_id="7")).rule == (
        "tools.bySender[discord:7].allow (not listed)")


def test_expand_lists_the_names_patterns_admit() -> None:
    assert expand(["group:fs", "bash"], ALL) == ["read", "write", "edit", "apply_patch", "exec"]


def test_unknown_profile_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown tool profile"):
        ConfiguredPolicy(PolicySettings(profile="admin"))


@pytest.mark.parametrize(("mode", "key", "sandboxed"), [
    ("off", "agent:main:main", False), ("off", "agent:main:web:direct:a", False),
    ("non-main", "agent:main:main", False), ("non-main", "agent:main:web:direct:a", True),
    ("all", "agent:main:main", True),
])
def test_sandbox_modes(mode: str, key: str, sandboxed: bool) -> None:
    assert session_sandboxed(mode, key, "agent:main:main") is sandboxed


ELEVATION = ElevatedSettings(enabled=True, allow_from={"telegram": ("42",), "web": ("*",)})


def host_policy(**kw: object) -> ConfiguredPolicy:
    settings = PolicySettings(elevated=ELEVATION, **kw)  # type: ignore[arg-type]
    return ConfiguredPolicy(settings, exec_gate("non-main", "main", host_allowed=True))


def test_exec_in_a_sandboxed_session_is_allowed_and_on_the_host_needs_elevation() -> None:
    policy = host_policy()
    assert policy.decide("exec", ctx(session_key="agent:main:telegram:group:9")).verdict == "allow"
    decision = policy.decide("exec", ctx())  # the main session stays on the host
    assert decision.verdict == "elevated" and decision.rule == "exec on the host needs /elevated on"
    # an unknown sender gets a deny, never "elevated": an elevated session lends them nothing
    stranger = policy.decide("exec", ctx(sender_id="99", elevated=True))
    assert stranger.verdict == "deny" and "not in tools.elevated.allowFrom.telegram" in stranger.rule
    assert policy.decide("exec", ctx(channel="web", sender_id="anyone")).verdict == "elevated"
    # the gate never widens: a deny list still wins first
    assert host_policy(deny=("exec",)).decide("exec", ctx()).rule == "tools.deny: exec"
    assert policy.decide("read", ctx()).verdict == "allow"


def test_exec_on_the_host_without_tools_exec_host_is_denied() -> None:
    policy = ConfiguredPolicy(PolicySettings(elevated=ELEVATION), exec_gate("off", "main", host_allowed=False))
    decision = policy.decide("bash", ctx(elevated=True))
    assert decision.verdict == "deny" and "tools.exec.host is false" in decision.rule


def test_elevation_refusals() -> None:
    assert ConfiguredPolicy(PolicySettings()).elevation_refusal("main", "telegram", "42") == (
        "elevated mode is disabled (tools.elevated.enabled is false)")
    policy = host_policy(agent_elevated={
        "locked": ElevatedSettings(enabled=False),
        "narrow": ElevatedSettings(enabled=True, allow_from={"web": ("alice",)}),
    })
    assert policy.elevation_refusal("main", "telegram", "42") is None
    assert "not in tools.elevated.allowFrom.telegram" in str(policy.elevation_refusal("main", "telegram", "1"))
    assert "disabled for agent 'locked'" in str(policy.elevation_refusal("locked", "telegram", "42"))
    assert policy.elevation_refusal("narrow", "web", "alice") is None
    assert "agent 'narrow'" in str(policy.elevation_refusal("narrow", "web", "bob"))
    # an agent list cannot add a sender the global list lacks
    widen = host_policy(agent_elevated={"w": ElevatedSettings(enabled=True, allow_from={"telegram": ("1",)})})
    assert widen.elevation_refusal("w", "telegram", "1") is not None
