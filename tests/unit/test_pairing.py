"""Pairing codes (domain/pairing.py) over the in-memory store: codes, expiry, limits, approval."""

from __future__ import annotations

import itertools

import pytest

from rustyclaw.adapters.pairing.memory import MemoryPairingStore
from rustyclaw.domain.pairing import (
    CODE_ALPHABET,
    CODE_LENGTH,
    PairingService,
    is_valid_code,
    normalise_code,
    random_code,
)
from tests.unit.fakes import FakeClock

pytestmark = pytest.mark.anyio


def test_the_alphabet_has_no_look_alikes_and_codes_use_only_it() -> None:
    assert not set("0O1I") & set(CODE_ALPHABET)
    assert len(set(CODE_ALPHABET)) == len(CODE_ALPHABET) == 32
    codes = {random_code() for _ in range(500)}
    assert all(len(c) == CODE_LENGTH and is_valid_code(c) for c in codes)
    assert len(codes) == 500  # 32**8 codes: collisions in 500 draws would mean a broken generator
    assert set("".join(codes)) == set(CODE_ALPHABET)


def test_codes_are_read_back_as_typed_by_people() -> None:
    assert normalise_code("  abcd2345 ") == "ABCD2345"
    assert not is_valid_code("ABCD0345") and not is_valid_code("ABCD234")


async def test_a_new_sender_gets_a_new_code_and_the_same_one_while_it_lives() -> None:
    clock = FakeClock()
    service = PairingService(MemoryPairingStore(), clock)
    first = await service.request("telegram", "s1", sender_name="Ann")
    assert first.new and first.code is not None
    clock.t += 3599
    again = await service.request("telegram", "s1")
    assert (again.code, again.new) == (first.code, False)
    clock.t += 1
    renewed = await service.request("telegram", "s1")
    assert renewed.new and renewed.code != first.code


async def test_at_most_three_pending_per_channel() -> None:
    service = PairingService(MemoryPairingStore(), FakeClock())
    for n in range(3):
        assert (await service.request("telegram", f"s{n}")).code is not None
    full = await service.request("telegram", "s3")
    assert (full.code, full.full) == (None, True)
    assert (await service.request("discord", "s3")).code is not None  # per channel


async def test_codes_never_repeat_among_pending_ones() -> None:
    scripted = itertools.chain(["AAAAAAAA", "AAAAAAAA", "BBBBBBBB"])
    service = PairingService(MemoryPairingStore(), FakeClock(), make_code=lambda: next(scripted))
    a = await service.request("telegram", "s1")
    b = await service.request("telegram", "s2")
    assert (a.code, b.code) == ("AAAAAAAA", "BBBBBBBB")


async def test_approve_moves_the_sender_to_the_approved_set() -> None:
    service = PairingService(MemoryPairingStore(), FakeClock())
    outcome = await service.request("telegram", "s1")
    assert outcome.code is not None
    assert not await service.is_approved("telegram", "s1")
    request = await service.approve("telegram", outcome.code.lower())
    assert request is not None and request.sender_id == "s1"
    assert await service.is_approved("telegram", "s1")
    assert await service.pending("telegram") == []
    assert await service.approve("telegram", outcome.code) is None  # used up
    assert not await service.is_approved("discord", "s1")


async def test_an_expired_or_unknown_code_is_not_approved() -> None:
    clock = FakeClock()
    service = PairingService(MemoryPairingStore(), clock)
    outcome = await service.request("telegram", "s1")
    assert outcome.code is not None
    assert await service.approve("telegram", "ZZZZZZZZ") is None
    assert await service.approve("telegram", "not a code") is None
    clock.t += 3600
    assert await service.approve("telegram", outcome.code) is None
    assert not await service.is_approved("telegram", "s1")


async def test_pending_lists_live_codes_oldest_first() -> None:
    clock = FakeClock()
    service = PairingService(MemoryPairingStore(), clock)
    for n in range(3):
        await service.request("telegram", f"s{n}")
        clock.t += 1000
    assert [r.sender_id for r in await service.pending("telegram")] == ["s0", "s1", "s2"]
    clock.t += 700  # s0 is 3700 s old now
    assert [r.sender_id for r in await service.pending("telegram")] == ["s1", "s2"]


async def test_strangers_cannot_hold_every_slot_for_the_hour() -> None:
    clock = FakeClock()
    service = PairingService(MemoryPairingStore(), clock, idle_seconds=600, hold_seconds=900)
    for n in range(3):
        assert (await service.request("telegram", f"flood{n}")).new
    assert (await service.request("telegram", "real")).full
    # The flooders keep writing, so they are never idle; still, after hold_seconds they give way.
    for _ in range(4):
        clock.t += 200
        for n in range(3):
            await service.request("telegram", f"flood{n}")
    assert clock.t >= 800 and (await service.request("telegram", "real")).full
    clock.t += 100
    got = await service.request("telegram", "real")
    assert got.new and got.code is not None
    assert sorted(r.sender_id for r in await service.pending("telegram")) == ["flood1", "flood2", "real"]


async def test_an_idle_request_gives_its_slot_to_a_new_sender_first() -> None:
    clock = FakeClock()
    service = PairingService(MemoryPairingStore(), clock, idle_seconds=600, hold_seconds=900)
    for n in range(3):
        await service.request("telegram", f"s{n}")
    clock.t += 300
    await service.request("telegram", "s0")
    await service.request("telegram", "s2")
    clock.t += 300  # s1 has been quiet for 600 s; the others for 300 s
    assert (await service.request("telegram", "new")).new
    assert sorted(r.sender_id for r in await service.pending("telegram")) == ["new", "s0", "s2"]


async def test_a_pending_code_is_not_sent_again_on_every_message() -> None:
    clock = FakeClock()
    service = PairingService(MemoryPairingStore(), clock, resend_after_seconds=600)
    first = await service.request("telegram", "s1")
    assert first.new and not first.quiet
    for _ in range(5):
        clock.t += 10
        again = await service.request("telegram", "s1")
        assert (again.code, again.quiet) == (first.code, True)
    clock.t += 600  # quiet for ten minutes: reminded once
    reminded = await service.request("telegram", "s1")
    assert (reminded.code, reminded.quiet) == (first.code, False)
