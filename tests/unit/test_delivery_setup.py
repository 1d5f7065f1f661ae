"""Which inbound journal serve uses, and what `/readyz` and `rustyclaw status` show of it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rustyclaw.adapters.inbox.postgres import PostgresInbox
from rustyclaw.adapters.inbox.sqlite import SqliteInbox
from rustyclaw.config.schema import RustyClawConfig
from rustyclaw.delivery_setup import DeliverySetup, build_inbox, delivery_report
from rustyclaw.domain.messages import InboundMessage

pytestmark = pytest.mark.anyio


TELEGRAM = {"telegram": {"enabled": True, "botToken": "123456:ABC-test"}}


def config(tmp_path: Path, **sections: Any) -> RustyClawConfig:
    data: dict[str, Any] = {"gateway": {"stateDir": str(tmp_path)}, "channels": TELEGRAM, **sections}
    return RustyClawConfig.model_validate(data, context={"home": tmp_path})


def test_the_journal_follows_the_storage_backend(tmp_path: Path) -> None:
    sqlite = build_inbox(config(tmp_path), tmp_path)
    assert isinstance(sqlite, SqliteInbox) and sqlite.path == tmp_path / "inbox.db"
    assert isinstance(build_inbox(config(tmp_path, storage={"backend": "json"}), tmp_path), SqliteInbox)
    assert isinstance(build_inbox(config(tmp_path, storage={"backend": "postgres"}), tmp_path), PostgresInbox)
    assert build_inbox(config(tmp_path, delivery={"journal": False}), tmp_path) is None
    assert build_inbox(config(tmp_path, channels={}), tmp_path) is None  # web only: nothing to journal


async def test_the_report_counts_and_names_the_latest_failures(tmp_path: Path) -> None:
    setup = DeliverySetup(config(tmp_path, delivery={"drainSeconds": 5}), tmp_path)
    assert setup.drain_seconds == 5
    await setup.start()
    try:
        assert setup.inbox is not None
        for n in (1, 2, 3):
            await setup.inbox.record(InboundMessage(channel="telegram", peer_id="7", sender_id="7",
                                                    message_id=f"7:{n}"), float(n))
        await setup.inbox.finish("telegram:default:7:1", "delivered", 4.0)
        await setup.inbox.finish("telegram:default:7:2", "failed", 5.0, error="Forbidden: bot was blocked")
        report = await setup.report()
    finally:
        await setup.aclose()
    assert {k: report[k] for k in ("journal", "unfinished", "failed", "delivered")} == {
        "journal": True, "unfinished": 1, "failed": 1, "delivered": 1}
    assert report["recent_failures"] == [{"channel": "telegram", "peer": "7", "message_id": "7:2",
                                          "error": "Forbidden: bot was blocked", "at": 5.0}]
    assert await delivery_report(None) == {"journal": False}


def test_status_shows_what_waits_and_what_failed() -> None:
    from rustyclaw.cli_status import render

    text = render("http://127.0.0.1:18789", {"status": "ready", "delivery": {
        "journal": True, "unfinished": 2, "failed": 1, "delivered": 40}})
    assert "delivery 2 waiting, 1 failed (not delivered; see the log), 40 delivered" in text
    assert "delivery" not in render("http://x", {"status": "ready", "delivery": {"journal": False}})


async def test_readyz_gets_the_counts_only(tmp_path: Path) -> None:
    setup = DeliverySetup(config(tmp_path), tmp_path)
    await setup.start()
    try:
        assert await setup.report(details=False) == {"journal": True, "unfinished": 0, "failed": 0,
                                                     "delivered": 0}
    finally:
        await setup.aclose()
