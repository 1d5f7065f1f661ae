"""Where RustyClaw and OpenClaw share a name they mean the same thing (issue #11, part 4).

Each case cites what it follows; docs/openclaw.md keeps the table.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from rustyclaw.config.loader import validate
from rustyclaw.domain.access import normalise_id
from rustyclaw.domain.errors import ConfigError
from rustyclaw.domain.messages import InboundMessage
from rustyclaw.domain.policy import unknown_group
from rustyclaw.domain.reset import is_stale
from rustyclaw.domain.session_keys import session_key
from rustyclaw.domain.settings import ResetPolicy, SessionSettings


def cfg(data: dict[str, object]):  # type: ignore[no-untyped-def]
    return validate(data, "test.yaml", Path("/tmp"))


# allowFrom: OpenClaw strips channel prefixes case-insensitively (normalizeTelegramAllowFromInput:
# /^(telegram|tg):/i; Discord's allow list: `discord:`, `user:`, `<@id>`; WhatsApp: `whatsapp:`, E.164).
@pytest.mark.parametrize(
    ("entry", "channel", "sender"),
    [
        ("tg:123456789", "telegram", "123456789"),
        ("TG:123456789", "telegram", "123456789"),
        ("telegram:42", "telegram", "42"),
        (" Telegram: 42 ", "telegram", "42"),
        ("discord:123456789012345678", "discord", "123456789012345678"),
        ("user:123456789012345678", "discord", "123456789012345678"),
        ("<@123456789012345678>", "discord", "123456789012345678"),
        ("<@!123456789012345678>", "discord", "123456789012345678"),
        ("+15551234567", "whatsapp", "15551234567"),
        ("whatsapp:+15551234567", "whatsapp", "15551234567"),
        ("15551234567@s.whatsapp.net", "whatsapp", "15551234567"),
    ],
)
def test_allow_from_entries_with_channel_prefixes_name_the_sender(entry: str, channel: str, sender: str) -> None:
    assert normalise_id(entry, channel) == normalise_id(sender, channel)


def test_a_prefix_of_another_channel_is_not_stripped() -> None:
    assert normalise_id("tg:42", "discord") != normalise_id("42", "discord")


def test_unknown_tool_groups_are_refused_with_the_nearest_name() -> None:
    assert unknown_group("group:medai") == "unknown tool group 'group:medai' (did you mean 'group:media'?)"
    assert unknown_group("group:media") is None  # OpenClaw's image/music/video/tts group
    assert unknown_group("group:mcp:github") is None  # known at run time
    with pytest.raises(ConfigError, match=r"tools\.deny.*did you mean 'group:runtime'"):
        cfg({"tools": {"deny": ["group:runtim"]}})
    with pytest.raises(ConfigError, match=r"agents\.list\.0\.tools\.allow.*unknown tool group 'group:nope'"):
        cfg({"agents": {"list": [{"id": "a", "tools": {"allow": ["group:nope"]}}]}})


def test_reset_by_type_dm_is_openclaws_alias_of_direct() -> None:
    loaded = cfg({"sessions": {"resetByType": {"dm": {"mode": "idle", "idleMinutes": 30}}}})
    assert loaded.sessions.reset_by_type["direct"].idle_minutes == 30
    with pytest.raises(ConfigError, match="either 'dm' or 'direct'"):
        cfg({"sessions": {"resetByType": {"dm": {"mode": "daily"}, "direct": {"mode": "daily"}}}})


def dm(peer: str, **fields: object) -> InboundMessage:
    values: dict[str, object] = {"channel": "telegram", "peer_id": peer, "sender_id": peer, "text": "hi"}
    values.update(fields)
    return InboundMessage(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("scope", "key"),
    [
        ("per-peer", "agent:main:direct:alice"),
        ("per-channel-peer", "agent:main:telegram:direct:alice"),
        ("per-account-channel-peer", "agent:main:telegram:default:direct:alice"),
    ],
)
def test_peer_ids_are_lower_cased_in_keys_as_openclaw_does(scope: str, key: str) -> None:
    # buildAgentPeerSessionKey: peerId = normalizeLowercaseStringOrEmpty(peerId)
    settings = SessionSettings(dm_scope=scope)  # type: ignore[arg-type]
    assert session_key(dm("Alice", account="default"), "main", settings) == key
    assert session_key(dm("ALICE", account="default"), "main", settings) == key


@pytest.mark.parametrize("scope", ["main", "per-peer", "per-channel-peer", "per-account-channel-peer"])
def test_http_user_sessions_take_openclaws_key_in_every_dm_scope(scope: str) -> None:
    # OpenClaw's resolveSessionKey for the HTTP endpoint: agent:<a>:openai-user:<user> (a main-style key,
    # never a direct-DM row, so `sessions cleanup --fix-dm-scope` does not retire it).
    settings = SessionSettings(dm_scope=scope)  # type: ignore[arg-type]
    message = dm("gamma-user", channel="web", session_hint="Gamma-User")
    assert session_key(message, "ops", settings) == "agent:ops:openai-user:gamma-user"


def ts(day: int, hour: int, minute: int = 0) -> float:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC).timestamp()


def test_daily_reset_is_judged_on_session_start_not_last_activity() -> None:
    # docs/concepts/session.md: "sessionStartedAt: when the current sessionId began; daily reset uses this."
    daily = ResetPolicy(mode="daily", at_hour=4)
    started, active = ts(22, 23), ts(23, 4, 30)  # began yesterday, in use after today's 04:00
    assert is_stale(active, ts(23, 9), daily, UTC, started_at=started)
    assert not is_stale(active, ts(23, 9), daily, UTC, started_at=ts(23, 4, 10))


def test_idle_reset_is_judged_on_last_activity() -> None:
    idle = ResetPolicy(mode="idle", idle_minutes=60)
    assert not is_stale(ts(23, 8, 30), ts(23, 9), idle, UTC, started_at=ts(20, 1))
    assert is_stale(ts(23, 7), ts(23, 9), idle, UTC, started_at=ts(23, 6))


def test_sandbox_scope_defaults_to_agent_as_in_openclaw() -> None:
    # docs/gateway/sandboxing.md: Scope `agents.defaults.sandbox.scope` ... default `agent`.
    assert cfg({}).sandbox.scope == "agent"
