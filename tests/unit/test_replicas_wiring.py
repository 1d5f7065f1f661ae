"""What `serve` runs with and without `gateway.replicas` (bootstrap builds, it does no I/O).

Without replicas the components are exactly those of before (the instance lock, cron and every
channel as ordinary components); with replicas the lock is gone, and the duties of one replica at
a time (channels that hold a connection, cron) sit under the one "leader" service.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rustyclaw.app import bootstrap
from rustyclaw.config.schema import RustyClawConfig
from rustyclaw.settings import settings_of

TELEGRAM_TOKEN = "123456:" + "A" * 35


def config(tmp_path: Path, **gateway: Any) -> RustyClawConfig:
    return RustyClawConfig.model_validate({
        "gateway": {"stateDir": str(tmp_path), **gateway},
        "sandbox": {"mode": "all"},  # so sandbox pruning is one of the components
        "llm": {"embedded": {"enabled": False}},
        "storage": {"backend": "postgres", "postgres": {"dsn": "postgresql://u@127.0.0.1:1/none"}},
        "channels": {
            "telegram": {"enabled": True, "botToken": TELEGRAM_TOKEN},  # long polling
            "whatsapp": {"enabled": True, "accessToken": "wa-token", "appSecret": "wa-secret",
                         "verifyToken": "wa-verify", "phoneNumberId": "15550001"},
        },
        "cron": {"jobs": [{"id": "tick", "schedule": {"every": "1h"}, "message": "Tick."}]},
    })


def test_without_replicas_serve_is_unchanged(tmp_path: Path) -> None:
    root = bootstrap(settings_of(config(tmp_path)), "serve")
    names = root.life.names
    assert names[0] == "instance-lock"
    assert {"cron", "sandbox-pruning", "channels"} <= set(names) and "leader" not in names
    assert "send-only-channels" not in names  # every channel runs here and sends as it always did
    assert root.serving is not None and root.serving.leader is None
    assert root.serving.supervisor is not None
    assert sorted(c.name for c in root.serving.supervisor.channels) == ["telegram", "whatsapp"]


def test_with_replicas_the_leader_service_holds_the_duties(tmp_path: Path) -> None:
    root = bootstrap(settings_of(config(tmp_path, replicas={"enabled": True})), "serve")
    names = root.life.names
    assert not {"instance-lock", "cron", "sandbox-pruning"} & set(names)
    assert names.index("channels") < names.index("leader") < names.index("http")
    # The held channels may send on a follower; their send-only clients close after every turn has.
    assert names.index("send-only-channels") < names.index("channels")
    serving = root.serving
    assert serving is not None and serving.leader is not None
    assert serving.leader.names == ["cron", "sandbox-pruning", "channels"]
    assert serving.supervisor is not None
    assert [c.name for c in serving.supervisor.channels] == ["whatsapp"]  # a webhook: every replica
    assert [c.name for c in serving.held_channels] == ["telegram"]  # long polling: the leader only
    assert [(s.name, s.state) for s in serving.channel_status()] == [("whatsapp", "starting"),
                                                                      ("telegram", "standby")]


def test_status_says_whether_the_replica_leads() -> None:
    from rustyclaw.cli_status import render

    url = "http://127.0.0.1:1"
    leader = render(url, {"status": "ready", "replicas": {"leader": True, "term": 3}})
    assert "replica  leader (term 3)" in leader.splitlines()
    follower = render(url, {"status": "ready", "replicas": {"leader": False, "term": None},
                            "channels": {"telegram": {"state": "standby"}}})
    assert "replica  follower" in follower.splitlines() and "channel  telegram: standby" in follower.splitlines()
    assert "replica" not in render(url, {"status": "ready"})  # without replicas: as before
