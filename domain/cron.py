"""Schedules: 5-field cron expressions, `every` intervals and one-shot `at` times; when a job fires next.

Cron expressions have five fields (minute hour day-of-month month day-of-week) or six with a leading
seconds field (croner's form, which OpenClaw uses). Each field takes `*`, numbers, ranges `a-b`,
lists `a,b`, steps `*/n` and `a-b/n`; months and weekdays also take names (`jan`, `mon`); weekday 7
is Sunday like 0. When both day-of-month and day-of-week are restricted, a day matching either one
fires (classic cron's rule).

Times are evaluated as wall-clock times in the given zone. A wall time that does not exist (the
hour skipped when clocks go forward) does not fire; a wall time that happens twice (clocks go back)
fires once, at its first occurrence.

Pure: no I/O, no clock reads; callers pass `after` (epoch seconds).
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, tzinfo
from typing import Literal

import msgspec

_MONTHS = {m: i + 1 for i, m in enumerate(["jan", "feb", "mar", "apr", "may", "jun",
                                             "jul", "aug", "sep", "oct", "nov", "dec"])}
_DAYS = {d: i for i, d in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])}
_INTERVAL = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# Far enough for Feb 29 on a Monday (28 years apart at most); a schedule that never fires stops here.
_SEARCH_DAYS = 366 * 29


class ScheduleError(ValueError):
    """A schedule could not be parsed; the message names the part that is wrong."""


class ScheduleSpec(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Exactly one of `cron`, `every` (`30s`, `5m`, `1h`, `1d`) or `at` (ISO date-time)."""

    cron: str | None = None
    every: str | None = None
    at: str | None = None

    def signature(self) -> str:
        """A stable text that changes when the schedule changes (stored with the job's state)."""
        for kind in ("cron", "every", "at"):
            value = getattr(self, kind)
            if value is not None:
                return f"{kind}:{value}"
        return "none"


def _parse_value(text: str, names: dict[str, int], field: str) -> int:
    lowered = text.lower()
    if lowered in names:
        return names[lowered]
    if not text.isdigit():
        raise ScheduleError(f"{field}: {text!r} is not a number")
    return int(text)


def _parse_field(text: str, low: int, high: int, field: str, names: dict[str, int] | None = None) -> frozenset[int]:
    values: set[int] = set()
    names = names or {}
    for part in text.split(","):
        if not part:
            raise ScheduleError(f"{field}: empty list item in {text!r}")
        body, _, step_text = part.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) == 0:
                raise ScheduleError(f"{field}: step {step_text!r} should be a positive number")
            step = int(step_text)
        if body == "*":
            start, end = low, high
        elif "-" in body:
            a, _, b = body.partition("-")
            start, end = _parse_value(a, names, field), _parse_value(b, names, field)
        else:
            start = _parse_value(body, names, field)
            # `5/15` means from 5 to the end in steps of 15.
            end = high if step_text else start
        # 7 is Sunday too (0 after parsing), so a weekday range may end at 7 (fri-7).
        high_ok = 7 if field == "weekday" else high
        if not (low <= start <= high_ok and low <= end <= high_ok) or start > end:
            raise ScheduleError(f"{field}: {part!r} is outside {low}-{high}")
        values.update(range(start, end + 1, step))
    if field == "weekday" and 7 in values:
        values.discard(7)
        values.add(0)
    return frozenset(values)


class CronExpression(msgspec.Struct, frozen=True):
    """A parsed cron expression: the allowed values of each field."""

    seconds: frozenset[int]
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    days_any: bool
    weekdays_any: bool

    def day_matches(self, day: date) -> bool:
        if day.month not in self.months:
            return False
        dom = day.day in self.days
        dow = (day.isoweekday() % 7) in self.weekdays
        if self.days_any and self.weekdays_any:
            return True
        if self.days_any:
            return dow
        if self.weekdays_any:
            return dom
        return dom or dow


def parse_cron(text: str) -> CronExpression:
    """Parses `m h dom mon dow` (or `s m h dom mon dow`); raises ScheduleError naming the field."""
    fields = text.split()
    if len(fields) == 5:
        fields = ["0", *fields]
    if len(fields) != 6:
        raise ScheduleError(f"{text!r} should have 5 fields (minute hour day month weekday)")
    sec, minute, hour, dom, month, dow = fields
    return CronExpression(
        seconds=_parse_field(sec, 0, 59, "second"),
        minutes=_parse_field(minute, 0, 59, "minute"),
        hours=_parse_field(hour, 0, 23, "hour"),
        days=_parse_field(dom, 1, 31, "day"),
        months=_parse_field(month, 1, 12, "month", _MONTHS),
        weekdays=_parse_field(dow, 0, 6, "weekday", _DAYS),
        days_any=dom == "*",
        weekdays_any=dow == "*",
    )


def parse_interval(text: str) -> float:
    """`30s`, `5m`, `1h`, `1d` -> seconds."""
    match = _INTERVAL.match(text)
    if match is None or int(match[1]) == 0:
        raise ScheduleError(f"{text!r} should be a positive number and a unit: s, m, h or d (e.g. 30m)")
    return float(int(match[1]) * _UNIT_SECONDS[match[2]])


def parse_at(text: str, tz: tzinfo) -> float:
    """An ISO date-time to epoch seconds; a time without an offset is read in `tz`."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ScheduleError(f"{text!r} is not an ISO date-time") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment.timestamp()


def _exists(wall: datetime, tz: tzinfo) -> float | None:
    """The epoch of a naive wall time in `tz`, or None when that wall time is skipped (DST gap)."""
    aware = wall.replace(tzinfo=tz, fold=0)
    stamp = aware.timestamp()
    back = datetime.fromtimestamp(stamp, tz).replace(tzinfo=None)
    return stamp if back == wall else None


def next_cron_fire(expr: CronExpression, after: float, tz: tzinfo) -> float | None:
    """The first matching time strictly after `after`, or None if none within ~29 years."""
    start = datetime.fromtimestamp(after, tz).replace(tzinfo=None, microsecond=0) + timedelta(seconds=1)
    day = start.date()
    seconds = sorted(expr.seconds)
    minutes = sorted(expr.minutes)
    hours = sorted(expr.hours)
    for _ in range(_SEARCH_DAYS):
        if expr.day_matches(day):
            first_day = day == start.date()
            for h in hours:
                if first_day and h < start.hour:
                    continue
                for m in minutes:
                    if first_day and (h, m) < (start.hour, start.minute):
                        continue
                    for s in seconds:
                        wall = datetime(day.year, day.month, day.day, h, m, s)
                        if wall < start:
                            continue
                        stamp = _exists(wall, tz)
                        if stamp is not None and stamp > after:
                            return stamp
        day += timedelta(days=1)
    return None


ScheduleKind = Literal["cron", "every", "at"]


class Schedule:
    """A parsed schedule; `next_fire(after, anchor)` says when it fires next (None: never again)."""

    def __init__(self, spec: ScheduleSpec, tz: tzinfo) -> None:
        given = [k for k in ("cron", "every", "at") if getattr(spec, k) is not None]
        if len(given) != 1:
            raise ScheduleError(f"set exactly one of cron, every, at (got {', '.join(given) or 'none'})")
        self.spec = spec
        self.kind: ScheduleKind = given[0]  # type: ignore[assignment]
        self.tz = tz
        self._cron = parse_cron(spec.cron) if spec.cron is not None else None
        self._every = parse_interval(spec.every) if spec.every is not None else None
        self._at = parse_at(spec.at, tz) if spec.at is not None else None

    def next_fire(self, after: float, anchor: float) -> float | None:
        """The first fire time strictly after `after`.

        `every` schedules fire at `anchor + n * interval` (the anchor is when the job was first
        scheduled), so a restart does not shift them; `at` fires once, if it is still ahead.
        """
        if self._cron is not None:
            return next_cron_fire(self._cron, after, self.tz)
        if self._every is not None:
            if after < anchor:
                return anchor + self._every
            periods = int((after - anchor) // self._every) + 1
            return anchor + periods * self._every
        assert self._at is not None
        return self._at if self._at > after else None

    @property
    def one_shot(self) -> bool:
        return self.kind == "at"

    def first_fire(self, now: float) -> float | None:
        """When a job seen for the first time at `now` fires first (an `at` in the past: never)."""
        if self._at is not None:
            return self._at if self._at > now else None
        return self.next_fire(now, now)


MissedPolicy = Literal["run-once", "skip"]


def reconcile_missed(
    schedule: Schedule, next_run: float | None, anchor: float, now: float, policy: MissedPolicy
) -> tuple[float | None, bool]:
    """At start: what to do with a job whose stored `next_run` passed while the gateway was down.

    Returns (next run time, run now?). With `run-once` a job that missed one or more runs runs
    once now (never once per missed run); with `skip` it waits for its next time after `now`.
    """
    if next_run is None or next_run > now:
        return next_run, False
    if policy == "run-once":
        return now, True
    return schedule.next_fire(now, anchor), False


def retry_delay(failures: int, base_seconds: float, max_seconds: float = 3600.0) -> float:
    """Exponential backoff for the `failures`-th consecutive failure (1-based), capped."""
    return float(min(max_seconds, base_seconds * (2 ** max(0, failures - 1))))
