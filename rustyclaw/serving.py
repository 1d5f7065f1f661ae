"""What `serve` adds to the core (rustyclaw/app.py): the instance lock, the channels and HTTP.

Order: the state-folder lock first (before the store opens), then the core, then the channel
supervisor, then the HTTP server; the gateway is marked ready once the socket listens.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import anyio

from rustyclaw.adapters.channels.supervisor import ChannelSupervisor
from rustyclaw.adapters.http.app import create_app
from rustyclaw.adapters.http.mounts import with_mounts
from rustyclaw.adapters.http.server import HttpServer
from rustyclaw.adapters.http.settings import HttpSettings
from rustyclaw.adapters.http.voice_api import VOICE_PATH, voice_app
from rustyclaw.adapters.storage.instance_lock import InstanceLock
from rustyclaw.control_setup import control_of
from rustyclaw.delivery_setup import DeliverySetup
from rustyclaw.domain.dispatch import ChannelDispatcher
from rustyclaw.health import Health
from rustyclaw.lifecycle import Ready
from rustyclaw.ports.channel import Channel, InboundHandler

if TYPE_CHECKING:
    from rustyclaw.app import Root

log = logging.getLogger("rustyclaw.app")


class Serving:
    """The serving components of one Root; `listening` is set once HTTP accepts connections."""

    def __init__(self, root: Root) -> None:
        self.root = root
        self.lock = InstanceLock(root.state_dir)
        self.supervisor: ChannelSupervisor | None = None
        self.http: HttpServer | None = None
        self.listening = anyio.Event()
        # The inbound journal: every accepted platform message on disk before it is acknowledged.
        self.delivery = DeliverySetup(root.settings.config, root.state_dir)

    def add_instance_lock(self) -> None:
        # The one place a future replicas mode (storage.backend postgres, several gateways) skips.
        self.root.life.step("instance-lock", self.lock.acquire, self.lock.release)

    def add_serving(self) -> None:
        life = self.root.life
        setup = self.root.channels
        assert setup is not None
        root = self.root

        delivery = self.delivery

        def handler(channel: Channel) -> InboundHandler:
            # Called as each channel starts; it answers what the journal holds from before a restart.
            return ChannelDispatcher(root.gateway, channel, delivery.inbox, root.clock,
                                     drain_seconds=delivery.drain_seconds)

        life.step("inbox", delivery.start, delivery.aclose)
        life.step("security-checks", self._log_security_findings)
        # A context, not a step: the supervisor's task group must be exited from its own scope.
        self.supervisor = ChannelSupervisor(setup.channels, handler)
        life.context("channels", self.supervisor)
        life.service("http", self._run_http, stop=self._stop_http)

    async def _log_security_findings(self) -> None:
        """Warns at start about risky but valid settings (several senders in one session, ...)."""
        from rustyclaw import security_checks
        from rustyclaw.adapters.pairing.jsonfile import JsonFilePairingStore

        cfg = self.root.settings.config
        channels = list(security_checks.platform_channels(cfg))
        approved = await security_checks.approved_senders(JsonFilePairingStore(self.root.state_dir), channels)
        security_checks.log_findings(security_checks.security_findings(cfg, approved))

    def http_settings(self) -> HttpSettings:
        cfg = self.root.settings.config
        return HttpSettings(
            token=cfg.gateway.auth.token or None,
            openai_enabled=cfg.gateway.openai_endpoint.enabled,
            max_message_chars=cfg.gateway.max_message_chars,
            agent_ids=self.root.settings.agents.agent_ids,
            default_agent=cfg.agents.default_agent,
            health=Health(self.root),
        )

    async def _run_http(self, ready: Ready) -> None:
        root = self.root
        gateway = root.gateway
        settings = self.http_settings()
        setup = root.channels
        mounts = {**(setup.mounts if setup is not None else {}), VOICE_PATH: voice_app(gateway, settings)}
        app = with_mounts(create_app(gateway, settings, control_of(root)), mounts)
        self.http = HttpServer(app, root.host, root.port, settings.token)

        def on_listening() -> None:
            assert self.http is not None
            gateway.mark_ready()
            log.info("rustyclaw ready on %s", self.http.url)
            if root.models.notice:
                log.warning(root.models.notice)
            self.listening.set()
            ready()

        await self.http.serve(on_listening)

    async def _stop_http(self) -> None:
        if self.http is not None:
            await self.http.aclose()
