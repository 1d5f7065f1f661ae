"""The example webhook channel (examples/webhook_channel) passes the channel contract suite, built
from its one registration exactly as the gateway builds it from `channels.webhook`."""

from __future__ import annotations

import itertools
import json
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from examples.webhook_channel.adapter import WebhookChannel, registration, sign
from rustyclaw.adapters.channels.webhook_asgi import Receive, Scope, Send, webhook_app
from rustyclaw.adapters.clock import SystemClock
from rustyclaw.channel_registry import ChannelRegistry, default_registry
from rustyclaw.channels_setup import ChannelSetup
from rustyclaw.config.schema import RustyClawConfig
from rustyclaw.domain.errors import ConfigError
from rustyclaw.domain.messages import InboundMessage
from rustyclaw.settings import settings_of
from tests.channel_contract.contract import ChannelContract, ChannelHarness, Recorder
from tests.channel_contract.harness_http import serving

SECRET = "example-secret"
_ids = itertools.count(1)


class FakePlatform:
    """The platform's side: sends signed events to the adapter and records what the adapter posts."""

    def __init__(self) -> None:
        self.inbox: dict[str, list[str]] = defaultdict(list)
        self.current: WebhookChannel | None = None
        self.base_url = ""

    async def outbound(self, headers: Any, body: bytes) -> tuple[int, bytes]:
        if headers.get("x-signature") != sign(SECRET, body):
            return 403, b"{}"
        event = json.loads(body)
        self.inbox[event["chat"]].append(event["text"])
        return 200, b"{}"

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/outbound":
            await webhook_app(self.outbound)(scope, receive, send)
            return
        assert self.current is not None
        await self.current.webhook_asgi_app()(scope, receive, send)

    # -- ChannelHarness -----------------------------------------------------------------------
    def make_channel(self) -> WebhookChannel:
        self.current = WebhookChannel(SECRET, f"{self.base_url}/outbound")
        return self.current

    def new_user(self) -> str:
        return f"user{next(_ids)}"

    def peer_of(self, user: str) -> str:
        return user

    async def post_event(self, event: dict[str, Any], secret: str | None = SECRET) -> httpx.Response:
        body = json.dumps(event).encode()
        headers = {"x-signature": sign(secret, body)} if secret else {}
        async with httpx.AsyncClient(timeout=10) as client:
            return await client.post(f"{self.base_url}/webhook", content=body, headers=headers)

    async def inject(self, user: str, text: str) -> None:
        await self.post_event({"id": str(next(_ids)), "from": user, "chat": user, "text": text})

    async def delivered(self, peer_id: str) -> list[str]:
        texts, self.inbox[peer_id] = self.inbox[peer_id], []
        return texts


@pytest.fixture
async def platform() -> AsyncIterator[FakePlatform]:
    fake = FakePlatform()
    async with serving(fake.app) as url:
        fake.base_url = url
        yield fake


@pytest.fixture
def registry() -> Iterator[ChannelRegistry]:
    found = default_registry()
    found.register(registration)  # the one step a new channel needs
    try:
        yield found
    finally:
        found.unregister("webhook")


def config_with(tmp: Path, **webhook: Any) -> RustyClawConfig:
    return RustyClawConfig.model_validate({
        "gateway": {"stateDir": str(tmp / "state")}, "agents": {"workspace": str(tmp)},
        "channels": {"webhook": {"enabled": True, "secret": SECRET, **webhook}},
    })


class RegisteredPlatform(FakePlatform):
    """Builds each adapter the gateway's way: `channels.webhook` validated by the registered model,
    then the registered factory."""

    def __init__(self, registry: ChannelRegistry, tmp: Path) -> None:
        super().__init__()
        self.registry = registry
        self.tmp = tmp

    def make_channel(self) -> WebhookChannel:
        cfg = config_with(self.tmp, outboundUrl=f"{self.base_url}/outbound")
        [enabled] = self.registry.enabled(cfg.channels)
        assert isinstance(enabled.channel, WebhookChannel)
        self.current = enabled.channel
        return self.current


class TestExampleWebhookChannelContract(ChannelContract):
    @pytest.fixture
    async def harness(self, platform: FakePlatform) -> AsyncIterator[ChannelHarness]:
        yield platform


class TestRegisteredExampleChannelContract(ChannelContract):
    @pytest.fixture
    async def harness(self, registry: ChannelRegistry, tmp_path: Path) -> AsyncIterator[ChannelHarness]:
        fake = RegisteredPlatform(registry, tmp_path)
        async with serving(fake.app) as url:
            fake.base_url = url
            yield fake


def test_without_its_registration_the_section_is_an_unknown_key(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="webhook"):
        config_with(tmp_path, outboundUrl="http://x")


def test_its_settings_model_checks_its_section(registry: ChannelRegistry, tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="textLimit"):
        config_with(tmp_path, outboundUrl="http://x", textLimit=0)
    incomplete = config_with(tmp_path)  # enabled without outboundUrl: what `config validate` reports
    assert [path for path, _ in registry.check(incomplete.channels)] == ["channels.webhook"]
    with pytest.raises(ConfigError, match="outboundUrl"):
        settings_of(incomplete)


@pytest.mark.anyio
async def test_the_gateway_mounts_it_and_applies_its_access_rules(registry: ChannelRegistry, tmp_path: Path) -> None:
    cfg = config_with(tmp_path, outboundUrl="http://127.0.0.1:9/outbound", dmPolicy="allowlist", allowFrom=["alice"])
    setup = ChannelSetup(settings_of(cfg), SystemClock())
    assert [c.name for c in setup.channels] == ["webhook"]
    assert list(setup.mounts) == ["/channels/webhook/webhook"]

    def dm(sender: str, channel: str = "webhook") -> InboundMessage:
        return InboundMessage(channel=channel, peer_id=sender, sender_id=sender, text="hi")

    assert (await setup.access.check(dm("alice"))).allowed
    assert not (await setup.access.check(dm("mallory"))).allowed
    assert not (await setup.access.check(dm("alice", channel="unregistered"))).allowed  # fails closed


@pytest.mark.anyio
async def test_unsigned_and_malformed_events_are_refused(platform: FakePlatform) -> None:
    recorder = Recorder()
    channel = platform.make_channel()
    await channel.start(recorder)
    try:
        event = {"id": "1", "from": "u", "chat": "u", "text": "hi"}
        assert (await platform.post_event(event, secret=None)).status_code == 403
        assert (await platform.post_event(event, secret="wrong")).status_code == 403
        assert (await platform.post_event({"text": "no sender"})).status_code == 400
        assert (await platform.post_event(event)).status_code == 200
        [message] = await recorder.wait_for(1)
        assert (message.text, message.message_id) == ("hi", "u:1")
    finally:
        await channel.aclose()



def test_config_show_prints_its_section_under_its_name_with_secrets_hidden(
    registry: ChannelRegistry, tmp_path: Path
) -> None:
    from rustyclaw.config.render import render_config

    text = render_config(config_with(tmp_path, outboundUrl="http://x", allowFrom=["alice"]))
    assert "  webhook:\n    enabled: true" in text and "outboundUrl: http://x" in text
    assert SECRET not in text and "secret: '***'" in text


def test_an_installed_package_registers_it_with_one_entry_point(tmp_path: Path) -> None:
    """What a package outside this repository does: one entry point, found by `rustyclaw` itself."""
    import os
    import subprocess
    import sys

    site = tmp_path / "site"
    info = site / "rustyclaw_webhook_example-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: rustyclaw-webhook-example\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[rustyclaw.channels]\nwebhook = examples.webhook_channel.adapter:registration\n")
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "RUSTYCLAW_HOME": str(tmp_path), "PYTHONPATH": f"{site}{os.pathsep}{root}"}

    def validate(**webhook: Any) -> subprocess.CompletedProcess[str]:
        config = tmp_path / "config.yaml"
        config.write_text(json.dumps({
            "gateway": {"stateDir": str(tmp_path / "state")}, "agents": {"workspace": str(tmp_path)},
            "channels": {"webhook": {"enabled": True, "secret": SECRET, **webhook}},
        }))
        return subprocess.run([sys.executable, "-m", "rustyclaw", "config", "validate", "--config", str(config)],
                              capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)

    assert validate(outboundUrl="https://platform.example/out").returncode == 0
    incomplete = validate()
    assert incomplete.returncode == 2 and "channels.webhook" in incomplete.stderr and "outboundUrl" in incomplete.stderr
