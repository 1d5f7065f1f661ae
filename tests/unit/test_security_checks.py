"""Multi-user safety findings (rustyclaw/security_checks.py) on validated configurations."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from rustyclaw.adapters.pairing.jsonfile import JsonFilePairingStore
from rustyclaw.config.schema import RustyClawConfig
from rustyclaw.security_checks import (
    SHARED_MAIN_SESSION,
    approved_senders,
    log_findings,
    platform_channels,
    security_findings,
)

TELEGRAM = {"enabled": True, "botToken": "123456:ABC-test"}


def config(tmp_path: Path, sessions: dict[str, Any] | None = None, **channels: dict[str, Any]) -> RustyClawConfig:
    data: dict[str, Any] = {"channels": channels, "gateway": {"stateDir": str(tmp_path)}}
    if sessions:
        data["sessions"] = sessions
    return RustyClawConfig.model_validate(data, context={"home": tmp_path})


def test_one_owner_on_one_channel_is_fine(tmp_path: Path) -> None:
    cfg = config(tmp_path, telegram={**TELEGRAM, "dmPolicy": "allowlist", "allowFrom": ["111"]})
    assert security_findings(cfg) == []


def test_several_allowed_senders_in_the_main_session_warn(tmp_path: Path) -> None:
    cfg = config(tmp_path, telegram={**TELEGRAM, "dmPolicy": "allowlist", "allowFrom": ["111", "222"]})
    (finding,) = security_findings(cfg)
    assert (finding.check_id, finding.severity) == (SHARED_MAIN_SESSION, "warn")
    assert "telegram:111" in finding.detail and "telegram:222" in finding.detail
    assert "sessions.dmScope: per-channel-peer" in finding.remediation


def test_approved_senders_count_across_channels(tmp_path: Path) -> None:
    cfg = config(tmp_path, telegram={**TELEGRAM, "allowFrom": ["111"]},
                 discord={"enabled": True, "token": "MTIz.x.y"})
    assert [f.severity for f in security_findings(cfg)] == ["info"]  # pairing could add more
    (finding,) = security_findings(cfg, {"discord": frozenset({"999"})})
    assert finding.severity == "warn" and "2 senders" in finding.title


def test_open_direct_messages_in_the_main_session_are_critical(tmp_path: Path) -> None:
    cfg = config(tmp_path, telegram={**TELEGRAM, "dmPolicy": "open", "allowFrom": ["*"]})
    (finding,) = security_findings(cfg)
    assert finding.severity == "critical" and "telegram" in finding.detail


def test_an_isolating_scope_has_no_finding(tmp_path: Path) -> None:
    for scope in ("per-peer", "per-channel-peer", "per-account-channel-peer"):
        cfg = config(tmp_path, {"dmScope": scope}, telegram={**TELEGRAM, "dmPolicy": "open", "allowFrom": ["*"]})
        assert security_findings(cfg) == []
    shared = config(tmp_path, {"scope": "global", "dmScope": "per-channel-peer"},
                    telegram={**TELEGRAM, "allowFrom": ["1", "2"]})
    assert "sessions.scope: per-sender" in security_findings(shared)[0].remediation


def test_disabled_channels_and_dms_do_not_count(tmp_path: Path) -> None:
    cfg = config(tmp_path, telegram={**TELEGRAM, "dmPolicy": "disabled", "allowFrom": ["1", "2"]},
                 discord={"enabled": False, "allowFrom": ["3", "4"]})
    assert security_findings(cfg) == [] and list(platform_channels(cfg)) == ["telegram"]


@pytest.mark.anyio
async def test_approved_senders_come_from_the_pairing_store(tmp_path: Path) -> None:
    store = JsonFilePairingStore(tmp_path)
    await store.add_approved("telegram", "111")
    await store.add_approved("telegram", "222")
    cfg = config(tmp_path, telegram=TELEGRAM)
    approved = await approved_senders(store, platform_channels(cfg))
    assert approved == {"telegram": frozenset({"111", "222"})}
    assert security_findings(cfg, approved)[0].severity == "warn"


def test_findings_are_logged_as_warnings(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    cfg = config(tmp_path, telegram={**TELEGRAM, "dmPolicy": "open", "allowFrom": ["*"]})
    with caplog.at_level(logging.DEBUG, logger="rustyclaw.security"):
        log_findings(security_findings(cfg))
    (record,) = caplog.records
    assert record.levelno == logging.WARNING and "shares one session" in record.getMessage()
