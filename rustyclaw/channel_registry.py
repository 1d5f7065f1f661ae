"""The channel registry: a chat platform is one registration, and only registered channels are served.

A registration names everything the gateway needs to know about a channel:

    ChannelRegistration(
        name="telegram",
        settings=TelegramConfig,                 # the `channels.telegram` section's model
        factory=telegram_channel_from_config,    # settings -> an unstarted adapter (no I/O)
        media=True,                              # its adapter can fetch inbound media (voice notes)
        webhook=lambda s: s.mode == "webhook",   # mount its webhook_asgi_app() at /channels/<name>/webhook
    )

Access rules come from the settings (every model extends config.channels.ChannelAccessConfig:
dmPolicy, allowFrom, groups, rateLimit); `access=` overrides the mapping. The access controller
knows only registered, enabled channels and refuses every other channel name except the
gateway's own (web, cli, cron): an adapter nobody registered is never served by accident.

A package outside this repository registers its channel with one entry point:

    [project.entry-points."rustyclaw.channels"]
    webhook = "my_package.adapter:registration"

or, in a test or an embedding program, `default_registry().register(registration)`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, cast

from rustyclaw.config.channels import (
    DEFAULT_ACCOUNT,
    ChannelAccessConfig,
    ChannelsConfig,
    DiscordConfig,
    TelegramConfig,
    WhatsAppConfig,
)
from rustyclaw.domain.access import INTERNAL_CHANNELS, ChannelAccess, RateLimit
from rustyclaw.domain.errors import ConfigError
from rustyclaw.ports.channel import Channel

log = logging.getLogger("rustyclaw.channels")

S = TypeVar("S", bound=ChannelAccessConfig)

ENTRY_POINT_GROUP = "rustyclaw.channels"
WEBHOOK_PATH = "/channels/{name}/webhook"


def access_of(settings: ChannelAccessConfig) -> ChannelAccess:
    """The access rules of a channel section, as the domain's plain value."""
    return ChannelAccess(
        dm_policy=settings.dm_policy,
        allow_from=tuple(settings.allow_from),
        group_policy=settings.group_policy,
        group_allow_from=tuple(settings.group_allow_from),
        groups={gid: group.require_mention for gid, group in settings.groups.items()},
        rate_limit=RateLimit(messages=settings.rate_limit.messages, per_seconds=settings.rate_limit.per_seconds),
    )


def _never(settings: ChannelAccessConfig) -> bool:
    return False


@dataclass(frozen=True, slots=True)
class ChannelRegistration(Generic[S]):
    """One channel; see the module docstring."""

    name: str
    settings: type[S]
    factory: Callable[[S], Channel]
    media: bool = False
    webhook: Callable[[S], bool] = _never
    access: Callable[[S], ChannelAccess] = access_of
    # Builds the adapter of a named account (channels.<name>.accounts); None: one account only.
    account_factory: Callable[[S, str], Channel] | None = None

    def build(self, section: S, account: str = DEFAULT_ACCOUNT) -> Channel:
        """The adapter for `section` (no I/O); ConfigError when the settings are incomplete."""
        if account == DEFAULT_ACCOUNT:
            channel = self.factory(section)
        elif self.account_factory is not None:
            channel = self.account_factory(section, account)
        else:
            raise ConfigError(f"channels.{self.name}.accounts: this channel has one account only")
        if channel.name != self.name:
            raise ConfigError(f"channels.{self.name}: the adapter calls itself {channel.name!r}")
        if self.media and not callable(getattr(channel, "fetch_media", None)):
            raise ConfigError(f"channels.{self.name}: registered with media support but has no fetch_media")
        return channel


@dataclass(frozen=True, slots=True)
class EnabledChannel:
    """A registered channel that the configuration turns on, with its settings and adapter."""

    registration: ChannelRegistration[Any]
    settings: ChannelAccessConfig
    channel: Channel
    # channels.<name>.accounts: which of the channel's accounts this adapter is ("default": the section).
    account: str = DEFAULT_ACCOUNT

    @property
    def name(self) -> str:
        return self.registration.name

    @property
    def access(self) -> ChannelAccess:
        return self.registration.access(self.settings)

    @property
    def webhook_path(self) -> str | None:
        return WEBHOOK_PATH.format(name=self.name) if self.registration.webhook(self.settings) else None


@dataclass
class ChannelRegistry:
    """Registered channels by name."""

    _entries: dict[str, ChannelRegistration[Any]] = field(default_factory=dict)
    _discovered: bool = False

    def register(self, registration: ChannelRegistration[Any]) -> None:
        name = registration.name
        if name in INTERNAL_CHANNELS:
            raise ConfigError(f"channel name {name!r} is the gateway's own; choose another")
        if (name in ChannelsConfig.model_fields or hasattr(ChannelsConfig, name)) and name not in _BUILT_IN_NAMES:
            raise ConfigError(f"channel name {name!r} clashes with a key or attribute of the channels section")
        known = self._entries.get(name)
        if known is not None and known is not registration:
            raise ConfigError(f"channel {name!r} is registered twice")
        self._entries[name] = registration

    def unregister(self, name: str) -> None:
        self._entries.pop(name, None)

    def get(self, name: str) -> ChannelRegistration[Any] | None:
        found = self._entries.get(name)
        if found is None and not self._discovered:
            self._discover()
            found = self._entries.get(name)
        return found

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __iter__(self) -> Iterator[ChannelRegistration[Any]]:
        return iter(list(self._entries.values()))

    def _discover(self) -> None:
        """Registrations of installed packages (entry points), read once and only when a name is missing."""
        self._discovered = True
        from importlib.metadata import entry_points

        for point in entry_points(group=ENTRY_POINT_GROUP):
            try:
                registration = point.load()
            except Exception as exc:  # a broken plugin package must not stop the gateway's own channels
                log.error("channel registration %s (%s) did not load: %s", point.name, point.value, exc)
                continue
            if isinstance(registration, ChannelRegistration):
                self.register(registration)
            else:
                log.error("entry point %s (%s) is not a ChannelRegistration", point.name, point.value)

    def sections(self, channels: ChannelsConfig) -> Iterator[tuple[ChannelRegistration[Any], ChannelAccessConfig]]:
        """Each registered channel's section that is enabled."""
        for name, section in channels.sections().items():
            registration = self.get(name)
            if registration is not None and section.enabled:
                yield registration, section

    def enabled(self, channels: ChannelsConfig) -> list[EnabledChannel]:
        """Builds the adapter of every enabled channel, one per account (ConfigError for incomplete
        settings)."""
        found: list[EnabledChannel] = []
        for registration, section in self.sections(channels):
            for account, settings in section.account_sections().items():
                channel = registration.build(settings, account)
                found.append(EnabledChannel(registration, settings, channel, account))
        return found

    def check(self, channels: ChannelsConfig) -> list[tuple[str, str]]:
        """What building the enabled channels would refuse, as (key path, message) problems."""
        problems: list[tuple[str, str]] = []
        for registration, section in self.sections(channels):
            for account, settings in section.account_sections().items():
                where = f"channels.{registration.name}" + ("" if account == DEFAULT_ACCOUNT else f".accounts.{account}")
                try:
                    registration.build(settings, account)
                except ConfigError as exc:
                    problems.append((where, str(exc)))
        return problems


def _telegram(section: TelegramConfig, account: str = DEFAULT_ACCOUNT) -> Channel:
    from rustyclaw.adapters.channels.telegram import telegram_channel_from_config

    return telegram_channel_from_config(section, account=account)


def _discord(section: DiscordConfig, account: str = DEFAULT_ACCOUNT) -> Channel:
    from rustyclaw.adapters.channels.discord import discord_channel_from_config

    return discord_channel_from_config(section, account=account)


def _whatsapp(section: WhatsAppConfig, account: str = DEFAULT_ACCOUNT) -> Channel:
    from rustyclaw.adapters.channels.whatsapp import whatsapp_channel_from_config

    return whatsapp_channel_from_config(section, account=account)


def _telegram_webhook(section: TelegramConfig) -> bool:
    return section.mode == "webhook"


def _always(section: ChannelAccessConfig) -> bool:
    return True


BUILT_IN: tuple[ChannelRegistration[Any], ...] = (
    ChannelRegistration("telegram", TelegramConfig, _telegram, media=True, webhook=_telegram_webhook,
                        account_factory=_telegram),
    ChannelRegistration("discord", DiscordConfig, _discord, media=True, account_factory=_discord),
    # WhatsApp's webhook is one path per channel: one account (one phone number id) only.
    ChannelRegistration("whatsapp", WhatsAppConfig, _whatsapp, media=True, webhook=_always),
)
_BUILT_IN_NAMES = frozenset(r.name for r in BUILT_IN)

_default: ChannelRegistry | None = None


def default_registry() -> ChannelRegistry:
    """The process's registry: the built-in channels plus whatever is registered or installed."""
    global _default
    if _default is None:
        registry = ChannelRegistry()
        for registration in BUILT_IN:
            registry.register(registration)
        _default = registry
    return _default


def settings_model(name: str) -> type[ChannelAccessConfig] | None:
    """The settings model of a registered channel (the config loader validates its section with it)."""
    found = default_registry().get(name)
    return cast("type[ChannelAccessConfig] | None", found.settings if found is not None else None)
