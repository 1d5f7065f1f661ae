"""The `channels` section: the web chat and the chat platforms, with OpenClaw's access rules."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from rustyclaw.config.base import ProblemsError, SecretStrValue, Section, section

DmPolicy = Literal["pairing", "allowlist", "open", "disabled"]
GroupPolicy = Literal["allowlist", "open", "disabled"]


class GroupConfig(Section):
    """Per-group settings."""

    require_mention: bool = True


class RateLimitConfig(Section):
    """At most `messages` per sender within `per_seconds`."""

    messages: int = Field(20, ge=1)
    per_seconds: float = Field(60.0, gt=0)


class ChannelAccessConfig(Section):
    """Who may talk to the assistant on a platform; shared by every platform channel."""

    enabled: bool = False
    dm_policy: DmPolicy = "pairing"
    allow_from: list[str] = Field(default_factory=list)
    group_policy: GroupPolicy = "allowlist"
    group_allow_from: list[str] = Field(default_factory=list)
    groups: dict[str, GroupConfig] = Field(default_factory=dict)
    rate_limit: RateLimitConfig = section()

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
    """Every channel; only the web chat is on by default."""

    web: WebChannelConfig = section()
    telegram: TelegramConfig = section()
    discord: DiscordConfig = section()
    whatsapp: WhatsAppConfig = section()
