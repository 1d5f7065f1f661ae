from __future__ import annotations

from datetime import UTC, datetime

from rustyclaw.domain.reset import is_stale, last_daily_boundary, policy_for
from rustyclaw.domain.settings import ResetPolicy, SessionSettings


def ts(day: int, hour: int, minute: int = 0) -> float:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC).timestamp()


def test_daily_boundary_is_the_last_at_hour_not_after_now() -> None:
    assert last_daily_boundary(ts(23, 10), 4, UTC) == ts(23, 4)
    assert last_daily_boundary(ts(23, 3), 4, UTC) == ts(22, 4)
    assert last_daily_boundary(ts(23, 4), 4, UTC) == ts(23, 4)


def test_daily_reset_after_crossing_the_hour() -> None:
    daily = ResetPolicy(mode="daily", at_hour=4)
    assert is_stale(ts(22, 23), ts(23, 5), daily, UTC)
    assert not is_stale(ts(23, 4, 1), ts(23, 23), daily, UTC)
    assert not is_stale(ts(23, 1), ts(23, 3), daily, UTC)


def test_idle_reset_and_first_to_expire_wins() -> None:
    idle = ResetPolicy(mode="idle", idle_minutes=30)
    assert not is_stale(ts(23, 10), ts(23, 10, 29), idle, UTC)
    assert is_stale(ts(23, 10), ts(23, 10, 31), idle, UTC)
    # idle mode ignores the daily hour
    assert not is_stale(ts(23, 3, 50), ts(23, 4, 10), idle, UTC)
    both = ResetPolicy(mode="daily", at_hour=4, idle_minutes=30)
    assert is_stale(ts(23, 3, 50), ts(23, 4, 10), both, UTC)  # daily expires first
    assert is_stale(ts(23, 10), ts(23, 11), both, UTC)  # idle expires first


def test_a_brand_new_entry_is_never_stale() -> None:
    assert not is_stale(0, ts(23, 10), ResetPolicy(), UTC)


def test_channel_override_beats_type_override_beats_default() -> None:
    by_type = ResetPolicy(mode="idle", idle_minutes=5)
    by_channel = ResetPolicy(mode="idle", idle_minutes=50)
    settings = SessionSettings(reset_by_type={"group": by_type}, reset_by_channel={"discord": by_channel})
    assert policy_for(settings, "telegram", "group") is by_type
    assert policy_for(settings, "discord", "group") is by_channel
    assert policy_for(settings, "telegram", "direct") is settings.reset
    assert policy_for(settings, "telegram", "thread") is settings.reset
