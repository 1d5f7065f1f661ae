"""Pairing: an unknown sender of a direct chat gets a code; the owner approves it from the CLI.

OpenClaw's rules: 8 upper-case characters from an alphabet without the look-alikes 0, O, 1 and I;
a code stays valid for one hour; at most 3 codes are pending per channel at a time; a sender who
asks again while a code is pending gets the same code back. Approval makes the sender a direct
chat allow-listed sender of that channel (it does not grant group access).

Against slot flooding (three strangers holding every slot for the hour): when the slots are full,
a request whose sender has been quiet for `idle_seconds`, or that is older than `hold_seconds`
whatever its sender does, gives its slot to the new sender (the oldest first). The pending code
is not sent again on every message: only when its sender was quiet for `resend_after_seconds`.
"""

from __future__ import annotations

from collections.abc import Callable
from random import SystemRandom

import msgspec

from rustyclaw.ports.clock import Clock
from rustyclaw.ports.pairing import PairingRequest, PairingStore

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8
CODE_TTL_SECONDS = 3600.0
MAX_PENDING = 3
IDLE_SECONDS = 600.0
HOLD_SECONDS = 900.0
RESEND_AFTER_SECONDS = 600.0


# os.urandom, as `secrets.choice` (which is this same SystemRandom().choice): `secrets` imports hmac,
# which loads hashlib's OpenSSL bindings (~0.5 MB of idle RSS) for nothing pairing uses.
_URANDOM = SystemRandom()


def random_code() -> str:
    return "".join(_URANDOM.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normalise_code(code: str) -> str:
    """Codes are typed by people: case and surrounding blanks do not matter."""
    return code.strip().upper()


def is_valid_code(code: str) -> bool:
    return len(code) == CODE_LENGTH and all(ch in CODE_ALPHABET for ch in code)


class PairingOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """What `PairingService.request` decided: a code (new or the pending one), or `full`.

    `quiet`: the sender holds this code and was told it moments ago; do not send it again.
    """

    code: str | None
    new: bool = False
    full: bool = False
    quiet: bool = False


class PairingService:
    """Issues, lists and approves pairing codes over a PairingStore, on the Clock's time."""

    def __init__(
        self,
        store: PairingStore,
        clock: Clock,
        *,
        ttl_seconds: float = CODE_TTL_SECONDS,
        max_pending: int = MAX_PENDING,
        make_code: Callable[[], str] = random_code,
        idle_seconds: float = IDLE_SECONDS,
        hold_seconds: float = HOLD_SECONDS,
        resend_after_seconds: float = RESEND_AFTER_SECONDS,
    ) -> None:
        self.store = store
        self._clock = clock
        self._ttl = ttl_seconds
        self._max_pending = max_pending
        self._make_code = make_code
        self._idle = idle_seconds
        self._hold = hold_seconds
        self._resend_after = resend_after_seconds

    def _evictable(self, request: PairingRequest, now: float) -> bool:
        return now - request.last_seen_at >= self._idle or now - request.created_at >= self._hold

    def _live(self, requests: list[PairingRequest], now: float) -> list[PairingRequest]:
        return [r for r in requests if now - r.created_at < self._ttl]

    async def is_approved(self, channel: str, sender_id: str) -> bool:
        return sender_id in await self.store.approved(channel)

    async def request(
        self, channel: str, sender_id: str, *, sender_name: str = "", account: str = "default"
    ) -> PairingOutcome:
        now = self._clock.now()

        def change(requests: list[PairingRequest]) -> PairingOutcome:
            live = self._live(requests, now)
            requests[:] = live
            for existing in live:
                if existing.sender_id == sender_id:
                    quiet = now - existing.last_seen_at < self._resend_after
                    existing.last_seen_at = now
                    return PairingOutcome(code=existing.code, quiet=quiet)
            if len(live) >= self._max_pending:
                evictable = [r for r in live if self._evictable(r, now)]
                if not evictable:
                    return PairingOutcome(code=None, full=True)
                requests.remove(min(evictable, key=lambda r: r.created_at))
                live = requests
            taken = {r.code for r in live}
            code = self._make_code()
            while code in taken:
                code = self._make_code()
            requests.append(PairingRequest(
                sender_id=sender_id, code=code, created_at=now, last_seen_at=now,
                sender_name=sender_name, account=account,
            ))
            return PairingOutcome(code=code, new=True)

        outcome: PairingOutcome = await self.store.update_pending(channel, change)
        return outcome

    async def pending(self, channel: str) -> list[PairingRequest]:
        """The channel's codes that have not expired, oldest first."""
        live = self._live(await self.store.list_pending(channel), self._clock.now())
        return sorted(live, key=lambda r: r.created_at)

    async def approve(self, channel: str, code: str) -> PairingRequest | None:
        """Approves the sender holding `code`; None when no live code matches (unknown or expired)."""
        wanted = normalise_code(code)
        now = self._clock.now()

        def change(requests: list[PairingRequest]) -> PairingRequest | None:
            live = self._live(requests, now)
            requests[:] = [r for r in live if r.code != wanted]
            return next((r for r in live if r.code == wanted), None)

        if not is_valid_code(wanted):
            return None
        found = await self.store.update_pending(channel, change)
        if found is not None:
            await self.store.add_approved(channel, found.sender_id)
        return found
