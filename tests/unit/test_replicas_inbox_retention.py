"""Under `gateway.replicas` serve's PostgreSQL journal prunes while it runs (delivery.keepDays); a single
gateway keeps pruning only as it starts, as before."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rustyclaw.adapters.inbox.postgres import PostgresInbox
from rustyclaw.config.schema import RustyClawConfig
from rustyclaw.delivery_setup import build_inbox


def config(tmp_path: Path, **gateway: Any) -> RustyClawConfig:
    return RustyClawConfig.model_validate({
        "gateway": {"stateDir": str(tmp_path), **gateway},
        "delivery": {"keepDays": 2},
        "storage": {"backend": "postgres", "postgres": {"dsn": "postgresql://u@127.0.0.1:1/none"}},
        "channels": {"whatsapp": {"enabled": True, "accessToken": "t", "appSecret": "s", "verifyToken": "v",
                                  "phoneNumberId": "1"}},
    }, context={"home": tmp_path})


def test_replicas_journal_keeps_delivery_keep_days_while_running(tmp_path: Path) -> None:
    inbox = build_inbox(config(tmp_path, replicas={"enabled": True}), tmp_path)
    assert isinstance(inbox, PostgresInbox) and inbox._keep == 2 * 86400


def test_a_single_gateway_journal_does_not_prune_on_record(tmp_path: Path) -> None:
    inbox = build_inbox(config(tmp_path), tmp_path)
    assert isinstance(inbox, PostgresInbox) and inbox._keep is None
