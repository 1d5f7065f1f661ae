"""The enabled push channels, from the channel registry, and the access control covering them."""

from __future__ import annotations

from rustyclaw.adapters.http.asgi import ASGIApp
from rustyclaw.adapters.pairing.jsonfile import JsonFilePairingStore
from rustyclaw.channel_registry import ChannelRegistry, EnabledChannel, default_registry
from rustyclaw.domain.access import AccessController
from rustyclaw.domain.errors import ChannelError, ConfigError
from rustyclaw.domain.messages import OutboundMessage
from rustyclaw.domain.pairing import PairingService
from rustyclaw.ports.channel import Channel
from rustyclaw.ports.clock import Clock
from rustyclaw.settings import Settings


class ChannelSetup:
    """The enabled channels (built, not started), the AccessGate and the webhook apps to mount.

    Access knows exactly the registered, enabled channels; any other channel name is refused.
    """

    def __init__(self, settings: Settings, clock: Clock, registry: ChannelRegistry | None = None) -> None:
        self.enabled: list[EnabledChannel] = (registry or default_registry()).enabled(settings.config.channels)
        self.channels: list[Channel] = [e.channel for e in self.enabled]
        # The pairing files are only needed when some channel can meet strangers.
        pairing = PairingService(JsonFilePairingStore(settings.state_dir), clock) if self.enabled else None
        self.access = AccessController({e.name: e.access for e in self.enabled}, clock, pairing)
        self.mounts: dict[str, ASGIApp] = {}
        for entry in self.enabled:
            path = entry.webhook_path
            if path is None:
                continue
            make_app = getattr(entry.channel, "webhook_asgi_app", None)
            if not callable(make_app):
                raise ConfigError(f"channels.{entry.name}: registered with a webhook but has no webhook_asgi_app()")
            self.mounts[path] = make_app()

    async def send(self, channel: str, peer_id: str, text: str) -> None:
        """The `message` tool's way out: a text to a peer on an enabled channel."""
        for candidate in self.channels:
            if candidate.name == channel:
                await candidate.send(OutboundMessage(channel=channel, peer_id=peer_id, text=text))
                return
        enabled = ", ".join(c.name for c in self.channels) or "none"
        raise ChannelError(f"channel {channel!r} is not enabled (enabled: {enabled})")
