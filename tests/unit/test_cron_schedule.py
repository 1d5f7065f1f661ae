"""domain/cron.py: parsing, next fire times (zones, DST), `every` anchoring, `at`, missed runs, backoff."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from rustyclaw.domain.cron import (
    Schedule,
    ScheduleError,
    ScheduleSpec,
    next_cron_fire,
    parse_cron,
    parse_interval,
    reconcile_missed,
    retry_delay,
)

BERLIN = ZoneInfo("Europe/Berlin")


def ts(text: str, tz: ZoneInfo | None = None) -> float:
    moment = datetime.fromisoformat(text)
    return moment.replace(tzinfo=tz or UTC).timestamp()


def iso(stamp: float | None, tz: ZoneInfo | None = None) -> str:
    assert stamp is not None
    return datetime.fromtimestamp(stamp, tz or UTC).strftime("%Y-%m-%d %H:%M:%S")


def test_fields_take_lists_ranges_steps_and_names() -> None:
    expr = parse_cron("*/15 9-17/4 1,15 jan-mar mon-fri")
    assert expr.minutes == {0, 15, 30, 45}
    assert expr.hours == {9, 13, 17}
    assert expr.days == {1, 15}
    assert expr.months == {1, 2, 3}
    assert expr.weekdays == {1, 2, 3, 4, 5}
    assert parse_cron("0 0 * * 7").weekdays == {0}
    assert parse_cron("0 0 * * fri-7").weekdays == {5, 6, 0}
    assert parse_cron("5/20 * * * *").minutes == {5, 25, 45}
    assert parse_cron("30 0 0 * * *").seconds == {30}  # six fields: seconds first


@pytest.mark.parametrize(
    ("text", "part"),
    [("* * * *", "5 fields"), ("60 * * * *", "minute"), ("* 24 * * *", "hour"), ("* * 0 * *", "day"),
     ("* * * 13 *", "month"), ("* * * * 8", "weekday"), ("*/0 * * * *", "step"), ("a * * * *", "number"),
     ("5-1 * * * *", "minute"), ("1,,2 * * * *", "empty")],
)
def test_bad_expressions_name_the_field(text: str, part: str) -> None:
    with pytest.raises(ScheduleError, match=part):
        parse_cron(text)


def test_next_fire_is_strictly_after() -> None:
    expr = parse_cron("*/5 * * * *")
    assert iso(next_cron_fire(expr, ts("2026-01-01T10:00:00"), UTC)) == "2026-01-01 10:05:00"
    assert iso(next_cron_fire(expr, ts("2026-01-01T10:04:59"), UTC)) == "2026-01-01 10:05:00"
    assert iso(next_cron_fire(parse_cron("0 7 * * *"), ts("2026-01-01T07:00:00"), UTC)) == "2026-01-02 07:00:00"
    assert iso(next_cron_fire(parse_cron("0 0 1 1 *"), ts("2026-06-01T00:00:00"), UTC)) == "2027-01-01 00:00:00"


def test_day_of_month_or_weekday_when_both_are_restricted() -> None:
    # 2026-03-01 is a Sunday; "the 13th or any Friday" fires on Friday the 6th first.
    expr = parse_cron("0 12 13 * fri")
    assert iso(next_cron_fire(expr, ts("2026-03-01T00:00:00"), UTC)) == "2026-03-06 12:00:00"
    assert iso(next_cron_fire(expr, ts("2026-03-12T13:00:00"), UTC)) == "2026-03-13 12:00:00"


def test_rare_and_impossible_dates() -> None:
    assert iso(next_cron_fire(parse_cron("0 0 29 2 *"), ts("2026-01-01T00:00:00"), UTC)) == "2028-02-29 00:00:00"
    assert next_cron_fire(parse_cron("0 0 31 2 *"), ts("2026-01-01T00:00:00"), UTC) is None


def test_wall_time_in_the_zone_and_daylight_saving() -> None:
    daily = parse_cron("30 2 * * *")
    # 2026-03-29 02:30 does not exist in Berlin (clocks jump 02:00 -> 03:00): that day is skipped.
    after = ts("2026-03-28T03:00:00", BERLIN)
    assert iso(next_cron_fire(daily, after, BERLIN), BERLIN) == "2026-03-30 02:30:00"
    # 2026-10-25 02:30 happens twice: it fires once, at the first one (CEST, 00:30 UTC).
    first = next_cron_fire(daily, ts("2026-10-25T00:00:00", BERLIN), BERLIN)
    assert iso(first) == "2026-10-25 00:30:00"
    assert iso(next_cron_fire(daily, first or 0, BERLIN), BERLIN) == "2026-10-26 02:30:00"
    seven = next_cron_fire(parse_cron("0 7 * * *"), ts("2026-01-01T00:00:00"), BERLIN)
    assert iso(seven) == "2026-01-01 06:00:00"


def test_intervals() -> None:
    assert parse_interval("30s") == 30 and parse_interval("5m") == 300
    assert parse_interval("1h") == 3600 and parse_interval("2d") == 172800
    for bad in ("0m", "5", "m", "5w", "1.5h"):
        with pytest.raises(ScheduleError):
            parse_interval(bad)


def test_every_counts_from_its_anchor() -> None:
    every = Schedule(ScheduleSpec(every="10m"), UTC)
    anchor = 1000.0
    assert every.first_fire(anchor) == 1600.0
    assert every.next_fire(1600.0, anchor) == 2200.0
    # After a long pause it lands on the anchor's grid, not on pause + interval.
    assert every.next_fire(5000.0, anchor) == 5200.0


def test_at_fires_once_and_reads_naive_times_in_the_zone() -> None:
    at = Schedule(ScheduleSpec(at="2026-05-01T09:00:00"), BERLIN)
    moment = ts("2026-05-01T09:00:00", BERLIN)
    assert at.first_fire(moment - 1) == moment
    assert at.next_fire(moment, 0.0) is None
    assert at.first_fire(moment + 1) is None
    assert Schedule(ScheduleSpec(at="2026-05-01T09:00:00+00:00"), BERLIN).first_fire(0) == ts("2026-05-01T09:00:00")
    assert at.one_shot


def test_exactly_one_kind() -> None:
    with pytest.raises(ScheduleError, match="exactly one"):
        Schedule(ScheduleSpec(cron="* * * * *", every="5m"), UTC)
    with pytest.raises(ScheduleError, match="exactly one"):
        Schedule(ScheduleSpec(), UTC)
    assert ScheduleSpec(every="5m").signature() == "every:5m"


def test_missed_runs_run_once_or_skip() -> None:
    every = Schedule(ScheduleSpec(every="1h"), UTC)
    # Due at 3600, now 5 h later: run once now, or skip to the next grid time.
    assert reconcile_missed(every, 3600.0, 0.0, 18000.5, "run-once") == (18000.5, True)
    assert reconcile_missed(every, 3600.0, 0.0, 18000.5, "skip") == (21600.0, False)
    # Not missed: unchanged.
    assert reconcile_missed(every, 20000.0, 0.0, 18000.0, "run-once") == (20000.0, False)
    assert reconcile_missed(every, None, 0.0, 18000.0, "run-once") == (None, False)


def test_retry_backoff_doubles_and_is_capped() -> None:
    assert [retry_delay(n, 30) for n in (1, 2, 3)] == [30, 60, 120]
    assert retry_delay(20, 30) == 3600
