"""Idempotent retries of `POST /api/chat` and `POST /v1/chat/completions` (the `Idempotency-Key` header).

A load balancer or a client retries a request whose connection broke: the replica may have died
after storing the message, even after answering it, but before the reply reached the caller.
Without a key the retry is a new message (stored and answered twice). With a key the request goes
through the inbound journal (ports/inbox.py) under `<channel>:<account>:<peer>/<key>`, the peer
being the caller's session (so two sessions cannot see each other's answers):

- a first attempt is recorded, its turn runs, and its response body is kept in the entry before it
  is sent;
- a retry whose original was answered gets the kept body again, with `Idempotent-Replayed: true`;
- a retry whose original is unanswered runs the turn as a redelivery: the gateway waits for the
  session's turn lock (held by the original's turn; under replicas a PostgreSQL advisory lock, which
  a dead replica's dropped connection releases), then finds the user message by its inbound id
  and returns the answer the original finished, or finishes the turn itself, without storing the
  message again (domain/gateway.py `_resume`). Should both attempts finish, `reply_once` keeps the
  first body and both callers get it;
- the same key with a different request is refused (422): a reused key is a client bug, and
  answering it with another message's reply would hide that.

The message's `message_id` is `<peer>/<key>`, which is also what the session store's inbound
dedup matches, so without a journal (`delivery.journal: false`) a retry still finishes or repeats
the stored turn instead of storing the message twice (only the 422 check needs the journal).
Entries are pruned with the others after `delivery.keepDays`.

Limits: a streaming attempt that ran its own turn while another attempt's answer was kept first
has already sent its own text (the journal and any later replay hold the other). A retry of a
message with no kept answer, sent after later messages of the session were answered, gets the
gateway's None (a 403 `message_dropped`): `_resume` treats that turn as over. The WebSocket chat
(ws.py) takes no key; the page does not resend by itself (it marks a message lost with its socket).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

import anyio
import msgspec

from rustyclaw.adapters.http.asgi import ClientGone, HttpError, Scope, header
from rustyclaw.domain.messages import Attachment, InboundMessage, OutboundMessage
from rustyclaw.ports.clock import Clock
from rustyclaw.ports.inbox import Inbox, inbox_key

HEADER = b"idempotency-key"
REPLAYED: tuple[bytes, bytes] = (b"idempotent-replayed", b"true")
MAX_KEY_CHARS = 255
# Printable ASCII without spaces: what UUIDs, ULIDs and the usual client libraries send.
_KEY = re.compile(r"[\x21-\x7e]{1," + str(MAX_KEY_CHARS) + "}")
# The kept response rides in the journal's reply as one attachment of this name; the journal's
# reply type is the channels' OutboundMessage, and the body must come back byte for byte.
RESPONSE_NAME = "http-response.json"


def checked_key(value: str | None, field: str) -> str | None:
    if value is None:
        return None
    if not _KEY.fullmatch(value):
        raise HttpError(400, f"{field} must be 1-{MAX_KEY_CHARS} printable ASCII characters without spaces",
                        code="invalid_idempotency_key", param=field)
    return value


def request_key(scope: Scope, body_value: str | None = None, body_field: str = "clientMessageId") -> str | None:
    """The request's idempotency key: the header, else the body's field (the web page's); both must agree."""
    raw = header(scope, HEADER)
    from_header = checked_key(raw.decode("latin-1").strip(), "Idempotency-Key") if raw is not None else None
    from_body = checked_key(body_value, body_field)
    if from_header is not None and from_body is not None and from_header != from_body:
        raise HttpError(400, f"the Idempotency-Key header and {body_field} differ", code="invalid_idempotency_key",
                        param=body_field)
    return from_header or from_body


def session_for_key(key: str) -> str:
    """A session id for a keyed request that names none: the same for its retries (a fresh random id
    per attempt would put the retry in another session, out of reach of the dedup)."""
    import hashlib  # here, not at import: its OpenSSL bindings cost ~0.5 MB of idle RSS (auth.py's hmac too)

    return "web-" + hashlib.sha256(key.encode()).hexdigest()[:16]


def keyed(message: InboundMessage, key: str) -> InboundMessage:
    # redelivered: a second attempt that finds the message stored finishes or repeats its turn
    # (the gateway's `_resume`) instead of dropping it as a duplicate.
    return msgspec.structs.replace(message, message_id=f"{message.peer_id}/{key}", redelivered=True)


def _same_request(a: InboundMessage, b: InboundMessage) -> bool:
    return (a.peer_id, a.text, a.agent_hint, a.session_hint, a.attachments, a.options) == (
        b.peer_id, b.text, b.agent_hint, b.session_hint, b.attachments, b.options)


def _kept_body(reply: OutboundMessage | None) -> bytes | None:
    if reply is None:
        return None
    return next((a.data for a in reply.attachments if a.name == RESPONSE_NAME and a.data is not None), None)


class Answer(msgspec.Struct, frozen=True):
    body: bytes
    replayed: bool


Turn = Callable[[InboundMessage], Awaitable[bytes]]
# The journal, opened on first use (a web-only serve opens none at start: rustyclaw/delivery_setup.py).
Journal = Callable[[], Awaitable[Inbox]]


class IdempotentTurns:
    """Runs a keyed request's turn at most once per key, with the journal as the record."""

    def __init__(self, journal: Journal, clock: Clock) -> None:
        self._journal = journal
        self._clock = clock

    async def answer(self, message: InboundMessage, turn: Turn) -> Answer:
        """`message` (already `keyed`) answered by `turn` (the 200 body; HttpError otherwise), or the
        body kept for its key."""
        inbox, key = await self._journal(), inbox_key(message)
        if await inbox.record(message, self._clock.now()):
            # Nothing delivers an HTTP entry (its caller waits on its own connection, or retries):
            # `done` at once, so `rustyclaw status` and the start-up log never count it as waiting
            # and the prune drops it after delivery.keepDays. Only `reply` matters to a retry.
            with anyio.CancelScope(shield=True):
                await inbox.finish(key, "done", self._clock.now())
        else:
            entry = await inbox.get(key)
            if entry is not None:
                if not _same_request(entry.message, message):
                    raise HttpError(
                        422, "this Idempotency-Key was already used for a different request; send a new "
                        "message with a new key", type="invalid_request_error", code="idempotency_key_reused",
                        param="Idempotency-Key")
                kept = _kept_body(entry.reply)
                if kept is not None:
                    return Answer(kept, replayed=True)
            # Unanswered: the original may still run (here or on another replica) or have died with
            # its replica; the turn below waits for the session's lock and then finishes it.
        try:
            body = await turn(message)
        except (HttpError, ClientGone):
            # A failed turn keeps no answer: a retry runs (or finishes) the turn again.
            with anyio.CancelScope(shield=True):
                await inbox.finish(key, "done", self._clock.now())
            raise
        reply = OutboundMessage(channel=message.channel, account=message.account, peer_id=message.peer_id,
                                reply_to=message.message_id,
                                attachments=(Attachment(kind="file", mime="application/json",
                                                        name=RESPONSE_NAME, data=body),))
        with anyio.CancelScope(shield=True):
            kept = _kept_body(await inbox.reply_once(key, reply, self._clock.now()))
            # Kept is as good as delivered here: a caller that missed the response gets it by retrying.
            await inbox.finish(key, "delivered", self._clock.now())
        if kept is None or kept == body:
            return Answer(body, replayed=False)
        # Another attempt finished first (both ran the turn's tail); its body is the answer of record.
        return Answer(kept, replayed=True)
