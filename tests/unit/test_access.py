"""The access rules (domain/access.py) as a matrix: every policy against every kind of sender."""

from __future__ import annotations

from typing import Any

import pytest

from rustyclaw.adapters.pairing.memory import MemoryPairingStore
from rustyclaw.domain.access import (
    PAIRING_FULL_REPLY,
    RATE_LIMIT_REPLY,
    AccessController,
    ChannelAccess,
    RateLimit,
    normalise_id,
)
from rustyclaw.domain.messages import InboundMessage
from rustyclaw.domain.pairing import CODE_ALPHABET, RESEND_AFTER_SECONDS, PairingService
from tests.unit.fakes import FakeClock

pytestmark = pytest.mark.anyio
NO_LIMIT = RateLimit(messages=0)


def open_dm(limit: RateLimit) -> ChannelAccess:
    return ChannelAccess(dm_policy="open", allow_from=("*",), rate_limit=limit)


def dm(sender: str = "u1", **kw: Any) -> InboundMessage:
    base: dict[str, Any] = {"channel": "telegram", "peer_id": sender, "sender_id": sender, "text": "hi",
                            "mentioned": True}
    base.update(kw)
    return InboundMessage(**base)


def group(group_id: str = "-100", sender: str = "u1", mentioned: bool = False, **kw: Any) -> InboundMessage:
    return dm(sender, peer_id=group_id, chat_kind=kw.pop("chat_kind", "group"), mentioned=mentioned, **kw)


async def controller(
    settings: ChannelAccess, *, approved: tuple[str, ...] = (), clock: FakeClock | None = None,
    resend_after: float = RESEND_AFTER_SECONDS,
) -> tuple[AccessController, PairingService]:
    clock = clock or FakeClock()
    store = MemoryPairingStore()
    for sender in approved:
        await store.add_approved("telegram", sender)
    pairing = PairingService(store, clock, resend_after_seconds=resend_after)
    return AccessController({"telegram": settings}, clock, pairing), pairing


# -- direct chats ------------------------------------------------------------------------------
DM_MATRIX = [
    # policy,      sender,     allowed, reason,          replies
    ("disabled", "listed", False, "dm-disabled", False),
    ("disabled", "approved", False, "dm-disabled", False),
    ("disabled", "stranger", False, "dm-disabled", False),
    ("open", "listed", True, "dm-open", False),
    ("open", "stranger", True, "dm-open", False),
    ("allowlist", "listed", True, "dm-allowed", False),
    ("allowlist", "approved", True, "dm-allowed", False),
    ("allowlist", "stranger", False, "dm-unknown", False),
    ("pairing", "listed", True, "dm-allowed", False),
    ("pairing", "approved", True, "dm-allowed", False),
    ("pairing", "stranger", False, "pairing-code", True),
]


@pytest.mark.parametrize(("policy", "who", "allowed", "reason", "replies"), DM_MATRIX)
async def test_direct_chat_matrix(policy: str, who: str, allowed: bool, reason: str, replies: bool) -> None:
    allow_from = ("*", "listed") if policy == "open" else ("listed",)
    settings = ChannelAccess(dm_policy=policy, allow_from=allow_from, rate_limit=NO_LIMIT)  # type: ignore[arg-type]
    access, _ = await controller(settings, approved=("approved",))
    verdict = await access.evaluate(dm(who))
    assert (verdict.allowed, verdict.reason, verdict.reply is not None) == (allowed, reason, replies)
    decision = await access.check(dm(who))
    assert decision.allowed == allowed


async def test_allow_from_matches_prefixed_and_plus_spelled_ids() -> None:
    settings = ChannelAccess(
        dm_policy="allowlist", allow_from=("telegram:42", "+15550001"), rate_limit=NO_LIMIT
    )
    access, _ = await controller(settings)
    assert (await access.check(dm("42"))).allowed
    assert (await access.check(dm("15550001"))).allowed
    assert not (await access.check(dm("43"))).allowed
    assert normalise_id(" telegram:7 ", "telegram") == "7"


async def test_openclaws_documented_tg_prefix_lets_that_user_in() -> None:
    # OpenClaw's docs write `allowFrom: ["tg:123456789"]`; its normaliser strips /^(telegram|tg):/i.
    settings = ChannelAccess(dm_policy="allowlist", allow_from=("tg:123456789", "TG:77"), rate_limit=NO_LIMIT)
    access, _ = await controller(settings)
    assert (await access.check(dm("123456789"))).allowed
    assert (await access.check(dm("77"))).allowed
    assert not (await access.check(dm("1234567890"))).allowed


async def test_a_stranger_gets_a_pairing_code_in_the_right_alphabet() -> None:
    access, pairing = await controller(ChannelAccess(rate_limit=NO_LIMIT))
    decision = await access.check(dm("stranger", sender_name="Bob"))
    assert not decision.allowed and decision.reply is not None
    [pending] = await pairing.pending("telegram")
    assert pending.code in decision.reply
    assert f"rustyclaw pairing approve telegram {pending.code}" in decision.reply
    assert len(pending.code) == 8 and set(pending.code) <= set(CODE_ALPHABET)
    assert not set(pending.code) & set("0O1I")
    assert pending.sender_name == "Bob"


async def test_asking_again_gives_the_same_code() -> None:
    access, pairing = await controller(ChannelAccess(rate_limit=NO_LIMIT))
    first = await access.check(dm("stranger"))
    second = await access.check(dm("stranger"))
    assert "pairing code" in (first.reply or "")
    assert second.reply is None  # told moments ago: not sent again on every message
    assert len(await pairing.pending("telegram")) == 1


async def test_a_fourth_stranger_is_asked_to_try_later_until_a_code_expires() -> None:
    clock = FakeClock()
    access, pairing = await controller(ChannelAccess(rate_limit=NO_LIMIT), clock=clock)
    for n in range(3):
        assert "pairing code" in ((await access.check(dm(f"s{n}"))).reply or "")
    full = await access.check(dm("s3"))
    assert full.reply == PAIRING_FULL_REPLY
    assert len(await pairing.pending("telegram")) == 3
    clock.t += 3600  # the first three codes expire after one hour
    assert "pairing code" in ((await access.check(dm("s3"))).reply or "")
    assert [r.sender_id for r in await pairing.pending("telegram")] == ["s3"]


async def test_approval_serves_the_sender_in_direct_chats_only() -> None:
    settings = ChannelAccess(group_policy="allowlist", group_allow_from=("-1",), rate_limit=NO_LIMIT)
    access, pairing = await controller(settings)
    await access.check(dm("newbie"))
    [pending] = await pairing.pending("telegram")
    assert await pairing.approve("telegram", pending.code.lower()) is not None
    assert (await access.check(dm("newbie"))).allowed
    verdict = await access.evaluate(group("-200", sender="newbie", mentioned=True))
    assert verdict.reason == "group-not-allowed"


async def test_pairing_without_a_pairing_service_behaves_as_allowlist() -> None:
    access = AccessController({"telegram": ChannelAccess(rate_limit=NO_LIMIT)}, FakeClock())
    decision = await access.check(dm("stranger"))
    assert (decision.allowed, decision.reply) == (False, None)


async def test_the_gateways_own_channels_are_served_and_unknown_ones_refused() -> None:
    access, _ = await controller(ChannelAccess(dm_policy="disabled"))
    for own in ("web", "cli", "cron"):
        assert (await access.evaluate(dm("x", channel=own))).reason == "open-channel"
    # Fails closed: a channel the controller has no settings for is never served.
    verdict = await access.evaluate(dm("x", channel="discord", chat_kind="group"))
    assert (verdict.allowed, verdict.reason) == (False, "unregistered-channel")
    assert not (await access.check(dm("x", channel="webhook"))).allowed


async def test_settings_for_one_account_take_precedence() -> None:
    clock = FakeClock()
    access = AccessController(
        {"telegram": ChannelAccess(dm_policy="disabled"),
         "telegram:work": ChannelAccess(dm_policy="open", allow_from=("*",))},
        clock,
    )
    assert not (await access.check(dm("x"))).allowed
    assert (await access.check(dm("x", account="work"))).allowed


# -- groups ------------------------------------------------------------------------------------
GROUP_MATRIX = [
    # policy,     listed, require, mentioned, allowed, reason
    ("disabled", True, False, True, False, "group-disabled"),
    ("disabled", False, True, True, False, "group-disabled"),
    ("open", False, True, True, True, "group-allowed"),
    ("open", False, True, False, False, "not-mentioned"),
    ("open", False, False, False, True, "group-allowed"),
    ("allowlist", True, True, True, True, "group-allowed"),
    ("allowlist", True, True, False, False, "not-mentioned"),
    ("allowlist", True, False, False, True, "group-allowed"),
    ("allowlist", False, True, True, False, "group-not-allowed"),
    ("allowlist", False, False, False, False, "group-not-allowed"),
]


@pytest.mark.parametrize("kind", ["group", "thread", "channel"])
@pytest.mark.parametrize(("policy", "listed", "require", "mentioned", "allowed", "reason"), GROUP_MATRIX)
async def test_group_matrix(
    kind: str, policy: str, listed: bool, require: bool, mentioned: bool, allowed: bool, reason: str
) -> None:
    settings = ChannelAccess(
        dm_policy="disabled", group_policy=policy,  # type: ignore[arg-type]
        group_allow_from=("-100",) if listed else ("-999",), groups={"*": require}, rate_limit=NO_LIMIT,
    )
    access, _ = await controller(settings)
    verdict = await access.evaluate(group("-100", mentioned=mentioned, chat_kind=kind, thread_id="5"))
    assert (verdict.allowed, verdict.reason, verdict.reply) == (allowed, reason, None)


async def test_require_mention_defaults_to_true_and_is_set_per_group() -> None:
    settings = ChannelAccess(group_policy="open", groups={"-1": False}, rate_limit=NO_LIMIT)
    access, _ = await controller(settings)
    assert (await access.evaluate(group("-1"))).allowed
    assert (await access.evaluate(group("-2"))).reason == "not-mentioned"
    assert (await access.evaluate(group("-2", mentioned=True))).allowed


async def test_a_group_listed_in_groups_is_allowed_and_a_listed_sender_passes_too() -> None:
    settings = ChannelAccess(groups={"-7": True}, group_allow_from=("boss",), rate_limit=NO_LIMIT)
    access, _ = await controller(settings)
    assert (await access.evaluate(group("-7", mentioned=True))).allowed
    assert (await access.evaluate(group("-8", sender="boss", mentioned=True))).allowed
    assert not (await access.evaluate(group("-8", sender="other", mentioned=True))).allowed


# -- rate limit --------------------------------------------------------------------------------
async def test_a_flood_gets_one_notice_then_silence_until_the_window_frees() -> None:
    clock = FakeClock()
    settings = open_dm(RateLimit(messages=3, per_seconds=10))
    access, _ = await controller(settings, clock=clock)
    results = [await access.check(dm("flooder")) for _ in range(6)]
    assert [r.allowed for r in results] == [True, True, True, False, False, False]
    assert [r.reply for r in results[3:]] == [RATE_LIMIT_REPLY, None, None]
    assert (await access.check(dm("someone-else"))).allowed  # per sender
    clock.t += 10
    assert (await access.check(dm("flooder"))).allowed
    clock.t += 4
    assert [(await access.check(dm("flooder"))).allowed for _ in range(3)] == [True, True, False]


async def test_the_sliding_window_frees_one_slot_at_a_time() -> None:
    clock = FakeClock()
    settings = open_dm(RateLimit(messages=2, per_seconds=10))
    access, _ = await controller(settings, clock=clock)
    assert (await access.check(dm("a"))).allowed
    clock.t += 6
    assert (await access.check(dm("a"))).allowed
    assert (await access.check(dm("a"))).reply == RATE_LIMIT_REPLY
    clock.t += 4  # the first message left the window
    assert (await access.check(dm("a"))).allowed
    assert (await access.check(dm("a"))).reply == RATE_LIMIT_REPLY


async def test_silently_dropped_messages_do_not_count_but_pairing_replies_do() -> None:
    clock = FakeClock()
    settings = ChannelAccess(group_policy="open", rate_limit=RateLimit(messages=2, per_seconds=60))
    access, _ = await controller(settings, clock=clock, resend_after=0.0)  # a code reply every time
    for _ in range(5):
        assert (await access.evaluate(group("-1"))).reason == "not-mentioned"
    assert (await access.evaluate(group("-1", mentioned=True))).allowed
    replies = [(await access.check(dm("stranger"))).reply for _ in range(4)]
    assert "pairing code" in (replies[0] or "") and "pairing code" in (replies[1] or "")
    assert replies[2:] == [RATE_LIMIT_REPLY, None]


async def test_idle_senders_are_forgotten() -> None:
    clock = FakeClock()
    settings = open_dm(RateLimit(messages=5, per_seconds=1))
    access, _ = await controller(settings, clock=clock)
    for n in range(600):
        await access.check(dm(f"s{n}"))
        clock.t += 0.01
    assert len(access._limiter) < 200


