"""The `channels` section: the web chat and the chat platforms, with OpenClaw's access rules."""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import (
    Field,
    FieldSerializationInfo,
    PrivateAttr,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_serializer,
    model_serializer,
    model_validator,
)

from rustyclaw.config.base import Identifier, ProblemsError, SecretStrValue, Section, section

DmPolicy = Literal["pairing", "allowlist", "open", "disabled"]
GroupPolicy = Literal["allowlist", "open", "disabled"]


class GroupConfig(Section):
    """Per-group settings."""

    require_mention: bool = True


class RateLimitConfig(Section):
    """At most `messages` per sender within `per_seconds`."""

    messages: int = Field(20, ge=1)
    per_seconds: float = Field(60.0, gt=0)


# Who may talk: the channel's own, shared by all of its accounts (one access gate per channel).
ACCESS_KEYS = ("dm_policy", "allow_from", "group_policy", "group_allow_from", "groups", "rate_limit")
DEFAULT_ACCOUNT = "default"


class ChannelAccessConfig(Section):
    """Who may talk to the assistant on a platform; shared by every platform channel."""

    enabled: bool = False
    dm_policy: DmPolicy = "pairing"
    allow_from: list[str] = Field(default_factory=list)
    group_policy: GroupPolicy = "allowlist"
    group_allow_from: list[str] = Field(default_factory=list)
    groups: dict[str, GroupConfig] = Field(default_factory=dict)
    rate_limit: RateLimitConfig = section()
    # OpenClaw's channels.<name>.accounts: more bots on this platform, by account id. An account
    # states what differs (its token) and takes the rest from this section, which is the `default`
    # account; bindings (match.accountId) and cron deliveries (delivery.accountId) name them.
    accounts: dict[Identifier, Self] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _accounts_state_connections_only(self) -> Self:
        problems: list[tuple[str, str]] = []
        for name, account in self.accounts.items():
            if name == DEFAULT_ACCOUNT:
                problems.append((f"accounts.{name}", "'default' is this section itself; name the account otherwise"))
            for key in sorted(account.model_fields_set & {*ACCESS_KEYS, "accounts"}):
                problems.append((f"accounts.{name}.{key}",
                                 "access rules and accounts are the channel's own: set them on the channel"))
        if problems:
            raise ProblemsError(problems)
        return self

    @field_serializer("accounts")
    def _accounts_as_stated(self, accounts: dict[str, Self], info: FieldSerializationInfo) -> dict[str, Any]:
        # What each account states, no more: its defaults would read back as `enabled: false` and as
        # access rules of its own, which an account may not have.
        return {name: account.model_dump(exclude_unset=True, mode=info.mode, by_alias=info.by_alias)
                for name, account in accounts.items()}

    def account_sections(self) -> dict[str, Self]:
        """`default` (this section) and each account: this section's settings overlaid with what
        the account states (an account that says `enabled: false` is left out)."""
        base = self.model_dump(exclude={"accounts"})
        found = {DEFAULT_ACCOUNT: self}
        for name, account in self.accounts.items():
            merged = type(self).model_validate({**base, **account.model_dump(include=account.model_fields_set)})
            if merged.enabled:
                found[name] = merged
        return found

    @model_validator(mode="after")
    def _open_needs_wildcard(self) -> ChannelAccessConfig:
        if self.dm_policy == "open" and "*" not in self.allow_from:
            raise ProblemsError(
                [("dmPolicy", 'dmPolicy "open" requires allowFrom to contain "*" (add allowFrom: ["*"])')]
            )
        return self


class WebChannelConfig(Section):
    """The built-in web chat served by the gateway."""

    enabled: bool = True


class TelegramConfig(ChannelAccessConfig):
    """Telegram Bot API (long polling or webhook)."""

    bot_token: SecretStrValue | None = None
    api_base_url: str | None = None
    mode: Literal["polling", "webhook"] = "polling"
    webhook_url: str | None = None
    webhook_secret: SecretStrValue | None = None
    # Polling: the pause after an empty getUpdates (a local Bot API server answers at once).
    poll_interval: float = Field(1.0, ge=0, le=60)

    @model_validator(mode="after")
    def _needs_token(self) -> TelegramConfig:
        problems = []
        if self.enabled and not self.bot_token:
            problems.append(("botToken", "Telegram is enabled but botToken is not set"))
        if self.enabled and self.mode == "webhook" and not self.webhook_url:
            problems.append(("webhookUrl", 'mode "webhook" needs webhookUrl'))
        if problems:
            raise ProblemsError(problems)
        return self


class DiscordConfig(ChannelAccessConfig):
    """Discord bot."""

    token: SecretStrValue | None = None
    rest_base_url: str | None = None
    # The privileged Message Content intent; off, the bot sees the text of mentions and DMs only.
    message_content_intent: bool = True

    @model_validator(mode="after")
    def _needs_token(self) -> DiscordConfig:
        if self.enabled and not self.token:
            raise ProblemsError([("token", "Discord is enabled but token is not set")])
        return self


class WhatsAppConfig(ChannelAccessConfig):
    """WhatsApp Cloud API (Meta Graph)."""

    access_token: SecretStrValue | None = None
    app_secret: SecretStrValue | None = None
    verify_token: SecretStrValue | None = None
    phone_number_id: str | None = None
    api_base_url: str = "https://graph.facebook.com"
    api_version: str = "v21.0"

    @model_validator(mode="after")
    def _needs_credentials(self) -> WhatsAppConfig:
        if self.enabled:
            missing = [
                ("accessToken", self.access_token),
                ("phoneNumberId", self.phone_number_id),
                ("verifyToken", self.verify_token),
                ("appSecret", self.app_secret),
            ]
            problems = [(key, f"WhatsApp is enabled but {key} is not set") for key, v in missing if not v]
            if problems:
                raise ProblemsError(problems)
        return self


class ChannelsConfig(Section):
    """Every channel; only the web chat is on by default.

    The built-in platforms have their own keys; a channel registered by another package
    (rustyclaw/channel_registry.py) has its section under its name too, validated by its own
    model (`sections()` returns them all). A key that no registered channel owns is refused.
    """

    web: WebChannelConfig = section()
    telegram: TelegramConfig = section()
    discord: DiscordConfig = section()
    whatsapp: WhatsAppConfig = section()
    _registered: dict[str, ChannelAccessConfig] = PrivateAttr(default_factory=dict)

    @model_validator(mode="wrap")
    @classmethod
    def _registered_sections(cls, data: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo) -> Any:
        sections: dict[str, ChannelAccessConfig] = {}
        if isinstance(data, dict):
            own = set(cls.model_fields) | {f.alias for f in cls.model_fields.values() if f.alias}
            extra = [key for key in data if key not in own]
            if extra:
                from rustyclaw.channel_registry import settings_model

                data = dict(data)
                for key in extra:
                    model = settings_model(str(key))
                    if model is None:
                        continue  # left in place: the unknown-key error names the nearest valid key
                    try:
                        sections[str(key)] = model.model_validate(data.pop(key), context=info.context)
                    except ValidationError as exc:
                        raise ProblemsError([
                            (".".join(str(part) for part in (key, *error["loc"])), error["msg"])
                            for error in exc.errors()
                        ]) from None
        built = handler(data)
        if sections and isinstance(built, ChannelsConfig):
            built._registered = sections
        return built

    @model_serializer(mode="wrap")
    def _with_registered(self, handler: SerializerFunctionWrapHandler, info: SerializationInfo) -> Any:
        # Written back as in the file: each registered channel under its own name.
        data = handler(self)
        if isinstance(data, dict):
            for name, registered in self._registered.items():
                data[name] = registered.model_dump(mode=info.mode, by_alias=bool(info.by_alias))
        return data

    @property
    def registered(self) -> dict[str, ChannelAccessConfig]:
        """The sections of channels registered by other packages, by name."""
        return dict(self._registered)

    def sections(self) -> dict[str, ChannelAccessConfig]:
        """Every platform channel's section by name (built-in and registered)."""
        return {"telegram": self.telegram, "discord": self.discord, "whatsapp": self.whatsapp, **self._registered}
