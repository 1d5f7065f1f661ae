"""The channel registry: typed sections reach the adapters (no dict round trip), names are unique."""

from __future__ import annotations

import pytest

from rustyclaw.adapters.channels.discord import DiscordChannel
from rustyclaw.adapters.channels.telegram import TelegramChannel
from rustyclaw.channel_registry import ChannelRegistration, ChannelRegistry, access_of, default_registry
from rustyclaw.config.channels import ChannelAccessConfig
from rustyclaw.config.schema import RustyClawConfig
from rustyclaw.domain.access import RateLimit
from rustyclaw.domain.errors import ConfigError


def channels(**sections: object) -> RustyClawConfig:
    return RustyClawConfig.model_validate({"channels": sections})


def test_poll_interval_and_message_content_intent_can_be_set_and_reach_the_adapters() -> None:
    cfg = channels(telegram={"enabled": True, "botToken": "1:x", "pollInterval": 0.25},
                   discord={"enabled": True, "token": "t", "messageContentIntent": False})
    built = {e.name: e.channel for e in default_registry().enabled(cfg.channels)}
    telegram, discord = built["telegram"], built["discord"]
    assert isinstance(telegram, TelegramChannel) and telegram._poll_interval == 0.25
    assert isinstance(discord, DiscordChannel) and discord._message_content is False


def test_access_rules_come_from_the_typed_section() -> None:
    cfg = channels(telegram={
        "enabled": True, "botToken": "1:x", "dmPolicy": "allowlist", "allowFrom": [123, "456"],
        "groupPolicy": "open", "groupAllowFrom": [-100],
        "groups": {"-100": {"requireMention": False}, "*": {}}, "rateLimit": {"messages": 5, "perSeconds": 30},
    })
    rules = access_of(cfg.channels.telegram)
    assert rules.dm_policy == "allowlist" and rules.allow_from == ("123", "456")
    assert rules.group_policy == "open" and rules.group_allow_from == ("-100",)
    assert dict(rules.groups) == {"-100": False, "*": True}
    assert rules.rate_limit == RateLimit(messages=5, per_seconds=30.0)


def test_only_enabled_channels_are_built_and_incomplete_ones_are_reported() -> None:
    registry = default_registry()
    assert registry.enabled(channels().channels) == []
    cfg = channels(telegram={"enabled": True, "botToken": "1:x", "mode": "webhook", "webhookUrl": "https://h/x"})
    problems = registry.check(cfg.channels)
    assert [path for path, _ in problems] == ["channels.telegram"] and "webhookSecret" in problems[0][1]


def test_names_are_unique_and_the_gateways_own_are_reserved() -> None:
    registry = ChannelRegistry()

    def factory(settings: ChannelAccessConfig) -> TelegramChannel:
        return TelegramChannel("1:x", name="extra")

    extra = ChannelRegistration("extra", ChannelAccessConfig, factory)
    registry.register(extra)
    registry.register(extra)  # the same registration again is harmless
    with pytest.raises(ConfigError, match="registered twice"):
        registry.register(ChannelRegistration("extra", ChannelAccessConfig, factory))
    for reserved in ("web", "cli", "cron", "registered"):
        with pytest.raises(ConfigError):
            registry.register(ChannelRegistration(reserved, ChannelAccessConfig, factory))


def test_an_adapter_must_carry_its_registered_name() -> None:
    def factory(settings: ChannelAccessConfig) -> TelegramChannel:
        return TelegramChannel("1:x")  # calls itself "telegram"

    wrong = ChannelRegistration("other", ChannelAccessConfig, factory)
    with pytest.raises(ConfigError, match="calls itself 'telegram'"):
        wrong.build(ChannelAccessConfig(enabled=True))


def test_accounts_are_built_and_checked_each() -> None:
    from rustyclaw.channel_registry import default_registry
    from rustyclaw.config.channels import ChannelsConfig

    channels = ChannelsConfig.model_validate({
        "telegram": {"enabled": True, "botToken": "1:a", "accounts": {"work": {"botToken": "2:b"}}},
        "whatsapp": {"enabled": True, "accessToken": "t", "appSecret": "s", "verifyToken": "v",
                     "phoneNumberId": "1", "accounts": {"second": {"phoneNumberId": "2"}}},
    })
    registry = default_registry()
    assert registry.check(channels) == [
        ("channels.whatsapp.accounts.second", "channels.whatsapp.accounts: this channel has one account only")]
    telegram = ChannelsConfig.model_validate({"telegram": channels.telegram.model_dump()})
    built = registry.enabled(telegram)
    assert [(e.name, e.account, getattr(e.channel, "account", None)) for e in built] == [
        ("telegram", "default", "default"), ("telegram", "work", "work")]
