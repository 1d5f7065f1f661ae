"""Who a channel serves, in OpenClaw's terms: dmPolicy, allowFrom, pairing, groupPolicy, mentions, rate.

Direct chats (`dmPolicy`):
- `disabled`: nobody is served; silence.
- `open`: everyone is served (config validation requires `"*"` in `allowFrom` for it, as OpenClaw).
- `allowlist`: senders in `allowFrom` or approved by pairing are served; others get silence.
- `pairing` (default): as allowlist, but an unknown sender gets a pairing code (domain/pairing.py);
  when 3 codes are already pending, the sender is told politely to try later.
Groups, forum threads and broadcast channels (`groupPolicy`):
- `disabled`: silence. `open`: any group. `allowlist` (default): the group id must be listed in
  `groupAllowFrom` or in `groups` (a sender id in `groupAllowFrom` also passes, OpenClaw's meaning).
  Direct-chat approval never grants group access.
- `groups[<id>]` (or `groups["*"]`) says whether a mention is required there (default yes); a
  message that does not mention the bot is ignored silently.
Rate limit: each sender may send `messages` messages per `per_seconds` (a sliding window on the
Clock's monotonic time). The first message over the limit gets one notice; the rest are ignored
until the window frees. Messages that are dropped silently for policy reasons do not count.
The gateway's own channels (`internal`: the web chat, the CLI, cron) are served as they come; any
other channel without settings is refused (fails closed): only registered, enabled channels have them.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Mapping
from typing import Literal

import msgspec

from rustyclaw.domain.gateway import AccessDecision
from rustyclaw.domain.messages import InboundMessage
from rustyclaw.domain.pairing import PairingService
from rustyclaw.ports.clock import Clock
from rustyclaw.ports.rate_limit import RateCounter

log = logging.getLogger("rustyclaw.access")

DmPolicy = Literal["pairing", "allowlist", "open", "disabled"]
GroupPolicy = Literal["allowlist", "open", "disabled"]
Reason = Literal[
    "open-channel", "dm-disabled", "dm-open", "dm-allowed", "dm-unknown", "pairing-code", "pairing-pending",
    "pairing-full", "group-disabled", "group-not-allowed", "group-allowed", "not-mentioned", "rate-limited",
    "rate-limited-notice", "unregistered-channel",
]

DM_POLICIES: tuple[str, ...] = ("pairing", "allowlist", "open", "disabled")
GROUP_POLICIES: tuple[str, ...] = ("allowlist", "open", "disabled")
WILDCARD = "*"
# The gateway's own surfaces, which have no access settings: served as they come ("session": a
# turn one session starts in another, sessions_send / sessions_spawn).
INTERNAL_CHANNELS = frozenset({"web", "cli", "cron", "session"})


class RateLimit(msgspec.Struct, frozen=True, kw_only=True):
    """At most `messages` per `per_seconds` per sender; `messages <= 0` turns the limit off."""

    messages: int = 20
    per_seconds: float = 60.0


_DEFAULT_RATE = RateLimit()


class ChannelAccess(msgspec.Struct, frozen=True, kw_only=True):
    """One channel's access settings (the `channels.<name>` keys of the same names)."""

    dm_policy: DmPolicy = "pairing"
    allow_from: tuple[str, ...] = ()
    group_policy: GroupPolicy = "allowlist"
    group_allow_from: tuple[str, ...] = ()
    # group id (or "*") -> require a mention there
    groups: Mapping[str, bool] = msgspec.field(default_factory=dict)
    rate_limit: RateLimit = _DEFAULT_RATE


class Verdict(msgspec.Struct, frozen=True, kw_only=True):
    """An access decision with the rule that made it (for logs and tests)."""

    allowed: bool
    reason: Reason
    reply: str | None = None


# Prefixes OpenClaw strips (case-insensitively) from allowFrom entries, per channel: Telegram's
# normalizeTelegramAllowFromInput (`telegram:` / `tg:`), Discord's allow list (`discord:`,
# `user:`, and the `<@id>` / `<@!id>` mention forms), WhatsApp (`whatsapp:`, `<n>@s.whatsapp.net`).
_ID_PREFIXES: dict[str, tuple[str, ...]] = {
    "telegram": ("telegram:", "tg:"),
    "discord": ("discord:", "user:"),
    "whatsapp": ("whatsapp:",),
}


def normalise_id(value: str, channel: str) -> str:
    """The sender id an allowFrom entry (or an inbound sender) names, as OpenClaw reads it:
    `tg:123`, `TELEGRAM:123`, ` 123 ` and `123` are one Telegram user; `discord:42`, `user:42`
    and `<@42>` one Discord user; `+1555...`, `1555...` and `1555...@s.whatsapp.net` one number."""
    text = value.strip()
    for prefix in (*_ID_PREFIXES.get(channel, ()), channel + ":"):
        if text.lower().startswith(prefix):
            text = text[len(prefix) :].strip()
            break
    if channel == "discord" and text.startswith("<@") and text.endswith(">"):
        text = text[2:-1].lstrip("!")
    if channel == "whatsapp" and text.lower().endswith("@s.whatsapp.net"):
        text = text[: -len("@s.whatsapp.net")]
    return text.lstrip("+")


def pairing_reply(channel: str, code: str) -> str:
    return (
        f"Hi! I don't know you yet. Your pairing code is {code} (valid for one hour). "
        f"Ask my owner to approve it with: rustyclaw pairing approve {channel} {code}"
    )


PAIRING_FULL_REPLY = "Too many people are waiting for approval right now. Please try again later."
RATE_LIMIT_REPLY = "You are sending messages faster than I can answer. Please wait a moment."


class _Window:
    __slots__ = ("noticed", "times")

    def __init__(self) -> None:
        self.times: deque[float] = deque()
        self.noticed = False


class SenderRateLimiter:
    """Sliding-window counts per (channel, account, sender); idle senders are forgotten."""

    _SWEEP_EVERY = 512

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._windows: dict[tuple[str, str, str], _Window] = {}
        self._checks = 0

    def hit(self, key: tuple[str, str, str], limit: RateLimit) -> Literal["ok", "notice", "drop"]:
        if limit.messages <= 0:
            return "ok"
        now = self._clock.monotonic()
        self._checks += 1
        if self._checks % self._SWEEP_EVERY == 0:
            self._sweep(now, limit.per_seconds)
        window = self._windows.get(key)
        if window is None:
            window = self._windows[key] = _Window()
        times = window.times
        while times and now - times[0] >= limit.per_seconds:
            times.popleft()
        if len(times) < limit.messages:
            times.append(now)
            window.noticed = False
            return "ok"
        if window.noticed:
            return "drop"
        window.noticed = True
        return "notice"

    def _sweep(self, now: float, horizon: float) -> None:
        stale = [k for k, w in self._windows.items() if not w.times or now - w.times[-1] >= horizon]
        for key in stale:
            del self._windows[key]

    def __len__(self) -> int:
        return len(self._windows)


class AccessController:
    """The AccessGate for every channel: per-channel ChannelAccess, pairing and rate limits.

    `channels` maps a channel name (or `"<channel>:<account>"` for one account of it) to its
    settings. A channel not in it is refused, unless it is one of `internal` (the gateway's own
    surfaces, served as they come: the web chat has its own token). Without a PairingService,
    `dmPolicy: pairing` behaves as `allowlist`. `rates` counts the rate-limit windows somewhere
    several gateways share (PostgreSQL replicas); without it they are counted in this process.
    """

    def __init__(
        self,
        channels: Mapping[str, ChannelAccess],
        clock: Clock,
        pairing: PairingService | None = None,
        *,
        internal: frozenset[str] = INTERNAL_CHANNELS,
        rates: RateCounter | None = None,
    ) -> None:
        self._channels = dict(channels)
        self._internal = internal
        self._pairing = pairing
        self._limiter = SenderRateLimiter(clock)
        self._rates = rates
        self._allow = {
            name: (
                frozenset(normalise_id(x, _channel_of(name)) for x in s.allow_from),
                frozenset(normalise_id(x, _channel_of(name)) for x in s.group_allow_from),
            )
            for name, s in self._channels.items()
        }

    def settings_for(self, message: InboundMessage) -> tuple[str, ChannelAccess] | None:
        for name in (f"{message.channel}:{message.account}", message.channel):
            found = self._channels.get(name)
            if found is not None:
                return name, found
        return None

    async def check(self, message: InboundMessage) -> AccessDecision:
        verdict = await self.evaluate(message)
        if not verdict.allowed:
            log.debug(
                "not served: %s", verdict.reason,
                extra={"channel": message.channel, "sender": message.sender_id, "peer": message.peer_id},
            )
        return AccessDecision(allowed=verdict.allowed, reply=verdict.reply)

    async def evaluate(self, message: InboundMessage) -> Verdict:
        found = self.settings_for(message)
        if found is None:
            if message.channel in self._internal:
                return Verdict(allowed=True, reason="open-channel")
            return Verdict(allowed=False, reason="unregistered-channel")
        name, settings = found
        if message.chat_kind == "direct":
            verdict = await self._direct(message, name, settings)
        else:
            verdict = self._group(message, name, settings)
        if not verdict.allowed and verdict.reply is None:
            return verdict  # silent drops do not count against the sender
        return await self._rate(message, settings, verdict)

    async def _direct(self, message: InboundMessage, name: str, settings: ChannelAccess) -> Verdict:
        policy = settings.dm_policy
        if policy == "disabled":
            return Verdict(allowed=False, reason="dm-disabled")
        allow_from, _ = self._allow[name]
        if policy == "open" or WILDCARD in allow_from:
            return Verdict(allowed=True, reason="dm-open")
        sender = normalise_id(message.sender_id, message.channel)
        if sender in allow_from:
            return Verdict(allowed=True, reason="dm-allowed")
        pairing = self._pairing
        if pairing is not None and await pairing.is_approved(message.channel, sender):
            return Verdict(allowed=True, reason="dm-allowed")
        if policy == "allowlist" or pairing is None:
            return Verdict(allowed=False, reason="dm-unknown")
        outcome = await pairing.request(
            message.channel, sender, sender_name=message.sender_name, account=message.account
        )
        if outcome.code is None:
            return Verdict(allowed=False, reason="pairing-full", reply=PAIRING_FULL_REPLY)
        if outcome.quiet:  # told moments ago: one code message per burst, not one per message
            return Verdict(allowed=False, reason="pairing-pending")
        if outcome.new:
            log.info(
                "pairing code issued", extra={"channel": message.channel, "sender": sender},
            )
        return Verdict(
            allowed=False, reason="pairing-code", reply=pairing_reply(message.channel, outcome.code)
        )

    def _group(self, message: InboundMessage, name: str, settings: ChannelAccess) -> Verdict:
        policy = settings.group_policy
        if policy == "disabled":
            return Verdict(allowed=False, reason="group-disabled")
        group = normalise_id(message.peer_id, message.channel)
        if policy == "allowlist":
            _, group_allow = self._allow[name]
            listed = (
                WILDCARD in group_allow
                or group in group_allow
                or normalise_id(message.sender_id, message.channel) in group_allow
                or group in settings.groups
            )
            if not listed:
                return Verdict(allowed=False, reason="group-not-allowed")
        require_mention = settings.groups.get(group, settings.groups.get(WILDCARD, True))
        if require_mention and not message.mentioned:
            return Verdict(allowed=False, reason="not-mentioned")
        return Verdict(allowed=True, reason="group-allowed")

    async def _rate(self, message: InboundMessage, settings: ChannelAccess, verdict: Verdict) -> Verdict:
        key = (message.channel, message.account, message.sender_id)
        if self._rates is None:
            outcome = self._limiter.hit(key, settings.rate_limit)
        else:
            outcome = await self._rates.hit(key, settings.rate_limit)
        if outcome == "ok":
            return verdict
        if outcome == "notice":
            log.warning(
                "rate limit reached", extra={"channel": message.channel, "sender": message.sender_id}
            )
            return Verdict(allowed=False, reason="rate-limited-notice", reply=RATE_LIMIT_REPLY)
        return Verdict(allowed=False, reason="rate-limited")


def _channel_of(name: str) -> str:
    return name.split(":", 1)[0]
