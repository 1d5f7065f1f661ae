"""OpenClaw's binding tiers: peer > guild > team > account > channel (`*` or none) > default."""

from __future__ import annotations

import pytest

from rustyclaw.config.schema import RustyClawConfig
from rustyclaw.domain.bindings import Binding, PeerMatch, bound_agent
from rustyclaw.domain.errors import ConfigError
from rustyclaw.domain.messages import InboundMessage
from rustyclaw.settings import settings_of


def msg(channel: str = "telegram", peer: str = "42", *, kind: str = "direct", account: str = "default",
        guild: str | None = None, team: str | None = None, sender: str | None = None) -> InboundMessage:
    return InboundMessage(channel=channel, peer_id=peer, sender_id=sender or peer, chat_kind=kind,  # type: ignore[arg-type]
                          account=account, guild_id=guild, team_id=team)


def agent(bindings: list[Binding], message: InboundMessage) -> str:
    found = bound_agent(bindings, message)
    return found.agent_id if found is not None else "default"


def test_the_most_specific_binding_wins_whatever_the_order() -> None:
    bindings = [
        Binding("by-channel", "discord"),
        Binding("any-account", "discord", account_id="*"),
        Binding("by-account", "discord", account_id="work"),
        Binding("by-team", "discord", account_id="*", team_id="T1"),
        Binding("by-guild", "discord", account_id="*", guild_id="G1"),
        Binding("by-peer", "discord", account_id="*", peer=PeerMatch("channel", "C1")),
    ]
    assert agent(bindings, msg("discord", "C1", kind="channel", account="work", guild="G1", team="T1")) == "by-peer"
    assert agent(bindings, msg("discord", "C2", kind="channel", account="work", guild="G1", team="T1")) == "by-guild"
    assert agent(bindings, msg("discord", "C2", kind="channel", account="work", team="T1")) == "by-team"
    assert agent(bindings, msg("discord", "C2", kind="channel", account="work")) == "by-account"
    assert agent(bindings, msg("discord", "C2", kind="channel", account="home")) == "any-account"
    # The default account matches both channel-level bindings (tier 4): the first listed wins.
    assert agent(bindings, msg("discord", "C2", kind="channel")) == "by-channel"
    assert agent(bindings, msg("telegram")) == "default"


def test_without_account_id_only_the_default_account_matches() -> None:
    bindings = [Binding("ops", "telegram")]
    assert agent(bindings, msg(account="default")) == "ops"
    assert agent(bindings, msg(account="second-bot")) == "default"


def test_first_listed_wins_within_a_tier() -> None:
    bindings = [Binding("first", "telegram"), Binding("second", "telegram")]
    assert agent(bindings, msg()) == "first"


def test_peer_kind_and_id_must_both_match_and_direct_ids_ignore_case() -> None:
    bindings = [Binding("alice", "whatsapp", peer=PeerMatch("dm", "User@X"))]
    assert agent(bindings, msg("whatsapp", "user@x")) == "alice"
    assert agent(bindings, msg("whatsapp", "chat-1", sender="USER@X")) == "alice"
    assert agent(bindings, msg("whatsapp", "user@x", kind="group")) == "default"
    assert agent(bindings, msg("whatsapp", "bob")) == "default"


def test_config_validate_refuses_a_binding_to_an_unknown_agent() -> None:
    cfg = RustyClawConfig.model_validate({
        "agents": {"list": [{"id": "ops"}]},
        "bindings": [{"agentId": "ops", "match": {"channel": "telegram"}},
                     {"agentId": "ghost", "match": {"channel": "discord", "accountId": "*"}}],
    })
    with pytest.raises(ConfigError, match=r"bindings\.1\.agentId: binding to agent 'ghost'"):
        settings_of(cfg)


def test_bindings_reach_the_agent_settings_in_order() -> None:
    cfg = RustyClawConfig.model_validate({
        "agents": {"list": [{"id": "ops"}]},
        "bindings": [{"agentId": "ops", "match": {"channel": "telegram", "peer": {"kind": "group", "id": "-100"}}}],
    })
    (binding,) = settings_of(cfg).agents.bindings
    assert binding == Binding("ops", "telegram", peer=PeerMatch("group", "-100"))
