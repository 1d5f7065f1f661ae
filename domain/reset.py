"""When a session is stale and must start afresh (OpenClaw's daily / idle reset)."""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo

from rustyclaw.domain.messages import ChatKind
from rustyclaw.domain.settings import ResetPolicy, SessionSettings


def policy_for(settings: SessionSettings, channel: str | None, chat_kind: ChatKind) -> ResetPolicy:
    """A per-channel override beats a per-chat-type override, which beats the default."""
    if channel is not None and channel in settings.reset_by_channel:
        return settings.reset_by_channel[channel]
    kind = "direct" if chat_kind == "direct" else ("thread" if chat_kind == "thread" else "group")
    return settings.reset_by_type.get(kind, settings.reset)


def last_daily_boundary(now: float, at_hour: int, tz: tzinfo | None) -> float:
    """The most recent moment at `at_hour`:00 local time that is not after `now`."""
    local = datetime.fromtimestamp(now, tz) if tz is not None else datetime.fromtimestamp(now).astimezone()
    boundary = local.replace(hour=at_hour, minute=0, second=0, microsecond=0)
    if boundary > local:
        boundary -= timedelta(days=1)
    return boundary.timestamp()


def is_stale(
    updated_at: float,
    now: float,
    policy: ResetPolicy,
    tz: tzinfo | None = None,
    *,
    started_at: float | None = None,
) -> bool:
    """Whether the session must start afresh, judged as OpenClaw does (docs/concepts/session.md):
    the daily reset on when the session began (`sessionStartedAt`, our `created_at`), the idle
    reset on the last activity (`updated_at`). When both are set the first to expire wins."""
    if updated_at <= 0:
        return False
    began = started_at if started_at is not None and started_at > 0 else updated_at
    if policy.mode == "daily" and began < last_daily_boundary(now, policy.at_hour, tz):
        return True
    return policy.idle_minutes is not None and now - updated_at > policy.idle_minutes * 60
