"""The enabled push channels, from the channel registry, and the access control covering them."""

from __future__ import annotations

from rustyclaw.adapters.http.asgi import ASGIApp
from rustyclaw.adapters.pairing.jsonfile import JsonFilePairingStore
from rustyclaw.channel_registry import ChannelRegistry, EnabledChannel, default_registry
from rustyclaw.config.channels import DEFAULT_ACCOUNT
from rustyclaw.domain.access import AccessController
from rustyclaw.domain.errors import ChannelError, ConfigError
from rustyclaw.domain.messages import OutboundMessage
from rustyclaw.domain.pairing import PairingService
from rustyclaw.ports.channel import Channel
from rustyclaw.ports.clock import Clock
from rustyclaw.ports.pairing import PairingStore
from rustyclaw.ports.rate_limit import RateCounter
from rustyclaw.settings import Settings


class ChannelSetup:
    """The enabled channels (built, not started), the AccessGate and the webhook apps to mount.

    Access knows exactly the registered, enabled channels; any other channel name is refused.
    `pairing_store` and `rates` are where pairing state and rate windows live (the shared state of
    adapters/storage/shared_state.py); by default the state folder's pairing files and memory.
    """

    def __init__(
        self, settings: Settings, clock: Clock, registry: ChannelRegistry | None = None, *,
        pairing_store: PairingStore | None = None, rates: RateCounter | None = None,
    ) -> None:
        self.enabled: list[EnabledChannel] = (registry or default_registry()).enabled(settings.config.channels)
        self.channels: list[Channel] = [e.channel for e in self.enabled]
        # The pairing store is only needed when some channel can meet strangers.
        pairing = (PairingService(pairing_store or JsonFilePairingStore(settings.state_dir), clock)
                   if self.enabled else None)
        self.pairing: PairingService | None = pairing  # the control UI lists and approves through it
        self.access = AccessController({e.name: e.access for e in self.enabled}, clock, pairing, rates=rates)
        self.mounts: dict[str, ASGIApp] = {}
        for entry in self.enabled:
            path = entry.webhook_path
            if path is None:
                continue
            if path in self.mounts:  # one webhook path per channel: a second account cannot share it
                raise ConfigError(f"channels.{entry.name}.accounts: only one account may take webhooks "
                                  f"({path}); use polling for account {entry.account!r}")
            make_app = getattr(entry.channel, "webhook_asgi_app", None)
            if not callable(make_app):
                raise ConfigError(f"channels.{entry.name}: registered with a webhook but has no webhook_asgi_app()")
            self.mounts[path] = make_app()

    async def send(self, channel: str, peer_id: str, text: str, account: str = DEFAULT_ACCOUNT) -> None:
        """The `message` tool's (and cron deliveries') way out: a text to a peer on an enabled
        channel, through the named account (channels.<name>.accounts)."""
        for entry in self.enabled:
            if entry.name == channel and entry.account == account:
                await entry.channel.send(OutboundMessage(channel=channel, account=account, peer_id=peer_id, text=text))
                return
        accounts = [e.account for e in self.enabled if e.name == channel]
        if accounts:
            raise ChannelError(f"channel {channel!r} has no account {account!r} (accounts: {', '.join(accounts)})")
        enabled = ", ".join(dict.fromkeys(e.name for e in self.enabled)) or "none"
        raise ChannelError(f"channel {channel!r} is not enabled (enabled: {enabled})")
