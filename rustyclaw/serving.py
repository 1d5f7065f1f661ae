"""What `serve` adds to the core (rustyclaw/app.py): the instance lock, the channels and HTTP.

Order: the state-folder lock first (before the store opens), then the core, then the channel
supervisor, then the HTTP server; the gateway is marked ready once the socket listens.

With `gateway.replicas` on there is no state-folder lock (each replica has its own folder and they
share the database), and the leader duties (rustyclaw/leader.py) run as one "leader" service
between the channels and HTTP: the channels that hold a connection to their platform (Telegram
long polling, the Discord gateway), cron and sandbox pruning. Webhook channels and HTTP run on
every replica. A follower never starts the leader's channels but can send through them: they are
allowed to send without receiving (ports/channel.py SendOnlyChannel), for its `message` tool.
Without replicas those duties are ordinary services, exactly as before.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import anyio

from rustyclaw.adapters.channels.supervisor import ChannelStatus, ChannelSupervisor
from rustyclaw.adapters.http.app import create_app
from rustyclaw.adapters.http.idempotency import IdempotentTurns
from rustyclaw.adapters.http.mounts import with_mounts
from rustyclaw.adapters.http.server import HttpServer
from rustyclaw.adapters.http.settings import HttpSettings
from rustyclaw.adapters.http.voice_api import VOICE_PATH, voice_app
from rustyclaw.adapters.storage.instance_lock import InstanceLock
from rustyclaw.control_setup import control_of
from rustyclaw.delivery_setup import DeliverySetup
from rustyclaw.domain.dispatch import ChannelDispatcher
from rustyclaw.health import Health
from rustyclaw.leader import LeaderDuties
from rustyclaw.lifecycle import Ready, Service
from rustyclaw.ports.channel import Channel, InboundHandler, SendOnlyChannel
from rustyclaw.ports.session_events import SessionEvents

if TYPE_CHECKING:
    from rustyclaw.app import Root

log = logging.getLogger("rustyclaw.app")


class Serving:
    """The serving components of one Root; `listening` is set once HTTP accepts connections."""

    def __init__(self, root: Root) -> None:
        self.root = root
        self.lock = InstanceLock(root.state_dir)
        self.supervisor: ChannelSupervisor | None = None
        # Replicas: the channels only the leader runs, and their supervisor while it leads.
        self.held_channels: list[Channel] = []
        self.held_supervisor: ChannelSupervisor | None = None
        self.leader = _leader_duties(root)
        self.http: HttpServer | None = None
        self.listening = anyio.Event()
        # The inbound journal: every accepted platform message on disk before it is acknowledged.
        self.delivery = DeliverySetup(root.settings.config, root.state_dir)
        # Replicas: web chat replies reach the sockets of every replica (None without: nothing opened).
        self.events = _session_events(root)

    def add_instance_lock(self) -> None:
        if self.leader is not None:
            # Replicas: each has its own state folder and they share only the database, where turn
            # locks and the leader lease keep them apart.
            return
        self.root.life.step("instance-lock", self.lock.acquire, self.lock.release)

    def leader_service(self, name: str, run: Service) -> None:
        """A duty of one replica at a time under replicas; without them an ordinary service."""
        if self.leader is None:
            self.root.life.service(name, run)
        else:
            self.leader.add(name, run)

    def channel_status(self) -> list[ChannelStatus]:
        """Every enabled channel as its supervisor sees it; a leader's channel on a follower is "standby"."""
        found = self.supervisor.status() if self.supervisor is not None else []
        held = self.held_supervisor
        if held is not None:
            return found + held.status()
        return found + [ChannelStatus(name=c.name, account=str(getattr(c, "account", "default")), state="standby")
                        for c in self.held_channels]

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
        everywhere = setup.channels
        if self.leader is not None:
            # A channel with a webhook is called by its platform on whichever replica the load
            # balancer picks; one that holds a connection (long polling, a gateway socket) would
            # receive every message once per replica, so only the leader runs it.
            everywhere = [e.channel for e in setup.enabled if e.webhook_path is not None]
            self.held_channels = [e.channel for e in setup.enabled if e.webhook_path is None]
            if self.held_channels:
                self.leader.add("channels", self._held_channels(handler))
                self._allow_send_only(self.held_channels)
        self.supervisor = ChannelSupervisor(everywhere, handler)
        life.context("channels", self.supervisor)
        if self.leader is not None:
            life.service("leader", self.leader.run, stop=self.leader.stop)
        if self.events is not None:
            life.step("session-events", self.events.start, self.events.aclose)
        life.service("http", self._run_http, stop=self._stop_http)

    def _allow_send_only(self, held: list[Channel]) -> None:
        """A follower's `message` tool and deliveries still reach a held channel's platform: sending
        is a stateless API call, so the channel sends through a client that never receives."""
        senders = [c for c in held if isinstance(c, SendOnlyChannel)]
        for channel in senders:
            channel.allow_send_only()

        async def close() -> None:
            for channel in senders:
                await channel.close_send_only()

        if senders:
            self.root.life.step("send-only-channels", None, close)

    def _held_channels(self, handler: Callable[[Channel], InboundHandler]) -> Service:
        async def run(ready: Ready) -> None:
            # A fresh supervisor per leadership: its task group and statuses belong to that term.
            supervisor = ChannelSupervisor(self.held_channels, handler)
            try:
                async with supervisor:
                    self.held_supervisor = supervisor
                    ready()
                    await anyio.sleep_forever()
            finally:
                self.held_supervisor = None

        return run

    async def _log_security_findings(self) -> None:
        """Warns at start about risky but valid settings (several senders in one session, ...)."""
        from rustyclaw import security_checks

        cfg = self.root.settings.config
        channels = list(security_checks.platform_channels(cfg))
        # The pairing store access control uses (PostgreSQL on that backend), started before this step.
        approved = await security_checks.approved_senders(self.root.shared.pairing, channels)
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
        delivery = self.delivery
        # Keyed HTTP retries are answered from the inbound journal (adapters/http/idempotency.py).
        idempotent = IdempotentTurns(delivery.http_journal, root.clock) if delivery.journaled_http else None
        app = with_mounts(create_app(gateway, settings, control_of(root), self.events, idempotent), mounts)
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


def _session_events(root: Root) -> SessionEvents | None:
    if not root.settings.config.gateway.replicas.enabled:
        return None
    from rustyclaw.adapters.storage.pg_events import PostgresSessionEvents

    return PostgresSessionEvents(root.settings.config.storage.postgres.dsn)


def _leader_duties(root: Root) -> LeaderDuties | None:
    replicas = root.settings.config.gateway.replicas
    if not replicas.enabled:
        return None
    from rustyclaw.adapters.storage.pg_leader import PostgresLeaderLease

    # The config refuses replicas on any other backend, so the DSN is the store's own database.
    lease = PostgresLeaderLease(root.settings.config.storage.postgres.dsn, replicas.lease_name,
                                replicas.lease_seconds)
    return LeaderDuties(lease)
