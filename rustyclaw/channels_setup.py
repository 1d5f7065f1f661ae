"""Builds the push channels and their access control from the `channels` config section."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rustyclaw.adapters.http.asgi import ASGIApp
from rustyclaw.domain.access import AccessController, ChannelAccess
from rustyclaw.domain.errors import ChannelError
from rustyclaw.domain.messages import OutboundMessage
from rustyclaw.domain.pairing import PairingService
from rustyclaw.ports.channel import Channel
from rustyclaw.ports.clock import Clock

WEBHOOK_PATH = "/channels/{name}/webhook"


class ChannelSetup:
    """The enabled channels, the AccessGate covering them, and the webhook apps to mount."""

    def __init__(self, cfg: Any, state_dir: Path, clock: Clock) -> None:
        self.channels: list[Channel] = []
        self.mounts: dict[str, ASGIApp] = {}
        sections = {
            name: getattr(cfg.channels, name).model_dump(by_alias=True)
            for name in ("telegram", "discord", "whatsapp")
            if getattr(cfg.channels, name).enabled
        }
        # The pairing files are only needed when some channel can meet strangers.
        pairing = PairingService(_pairing_store(state_dir), clock) if sections else None
        self.access = AccessController(
            {name: ChannelAccess.from_mapping(raw) for name, raw in sections.items()}, clock, pairing
        )
        for name, raw in sections.items():
            self._add(name, raw)

    async def send(self, channel: str, peer_id: str, text: str) -> None:
        """The `message` tool's way out: a text to a peer on an enabled channel."""
        for candidate in self.channels:
            if candidate.name == channel:
                await candidate.send(OutboundMessage(channel=channel, peer_id=peer_id, text=text))
                return
        enabled = ", ".join(c.name for c in self.channels) or "none"
        raise ChannelError(f"channel {channel!r} is not enabled (enabled: {enabled})")

    def _add(self, name: str, raw: dict[str, Any]) -> None:
        if name == "telegram":
            from rustyclaw.adapters.channels.telegram import telegram_channel_from_config

            telegram = telegram_channel_from_config(raw)
            self.channels.append(telegram)
            if telegram.mode == "webhook":
                self.mounts[WEBHOOK_PATH.format(name=name)] = telegram.webhook_asgi_app()
        elif name == "discord":
            from rustyclaw.adapters.channels.discord import discord_channel_from_config

            self.channels.append(discord_channel_from_config(raw))
        elif name == "whatsapp":
            from rustyclaw.adapters.channels.whatsapp import whatsapp_channel_from_config

            whatsapp = whatsapp_channel_from_config(raw)
            self.channels.append(whatsapp)
            self.mounts[WEBHOOK_PATH.format(name=name)] = whatsapp.webhook_asgi_app()


def _pairing_store(state_dir: Path) -> Any:
    from rustyclaw.adapters.pairing.jsonfile import JsonFilePairingStore

    return JsonFilePairingStore(state_dir)
