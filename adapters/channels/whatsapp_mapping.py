"""WhatsApp Cloud API webhook payloads to InboundMessages.

A payload is `{"object": "whatsapp_business_account", "entry": [{"changes": [{"field":
"messages", "value": {...}}]}]}`; each value carries `metadata.phone_number_id`, `contacts`
and `messages` (or only `statuses`, delivery receipts, which are ignored).

- Every WhatsApp chat here is direct: `peer_id` is the user's `from` number (what sends reply
  to), `sender_id` the same number so that `allowFrom: ["+15551234567"]` works; when a payload
  carries no `from` (users with a username and a hidden number) the business-scoped
  `contacts[].user_id` stands in for both.
- `message_id` is the `wamid`, so a redelivery is answered once.
- text -> text; audio -> `Attachment(kind="voice")` (`kind="audio"` when the payload says
  `voice: false`, a forwarded audio file) whose url is `whatsapp-media:<media id>` (fetch it with
  `WhatsAppChannel.fetch_media`); image, video and document -> attachments with their caption as
  text; button and list replies -> their title. Reactions, locations, stickers, `unsupported`
  and other kinds are dropped with a log line.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from rustyclaw.domain.messages import Attachment, InboundMessage

log = logging.getLogger("rustyclaw.channels.whatsapp")

MEDIA_URL_PREFIX = "whatsapp-media:"
_MEDIA_KINDS = {"image": "image", "video": "video", "document": "file", "sticker": "image"}


class PayloadError(ValueError):
    """The body is JSON but not a WhatsApp webhook payload."""


def media_id_of(attachment: Attachment) -> str | None:
    url = attachment.url or ""
    return url[len(MEDIA_URL_PREFIX):] if url.startswith(MEDIA_URL_PREFIX) else None


def _values(payload: Any) -> Iterator[dict[str, Any]]:
    if not isinstance(payload, dict):
        raise PayloadError("the body is not a JSON object")
    entries = payload.get("entry")
    if payload.get("object") != "whatsapp_business_account" or not isinstance(entries, list):
        raise PayloadError("not a whatsapp_business_account event (object/entry missing)")
    for entry in entries:
        changes = entry.get("changes") if isinstance(entry, dict) else None
        if not isinstance(changes, list):
            raise PayloadError("an entry without a changes list")
        for change in changes:
            if not isinstance(change, dict) or not isinstance(change.get("value"), dict):
                raise PayloadError("a change without a value object")
            if change.get("field", "messages") == "messages":
                yield change["value"]


def _attachment(kind: str, media: dict[str, Any]) -> Attachment | None:
    media_id = media.get("id")
    if not isinstance(media_id, str) or not media_id:
        return None
    # A forwarded audio file says voice: false; older payloads omit the flag for voice notes.
    voice = "audio" if media.get("voice") is False else "voice"
    return Attachment(
        kind=voice if kind == "audio" else _MEDIA_KINDS[kind],  # type: ignore[arg-type]
        mime=str(media.get("mime_type") or "application/octet-stream"),
        name=media.get("filename"),
        url=MEDIA_URL_PREFIX + media_id,
    )


def _content(message: dict[str, Any]) -> tuple[str, tuple[Attachment, ...]] | None:
    kind = message.get("type")
    body = message.get(kind) if isinstance(kind, str) else None
    body = body if isinstance(body, dict) else {}
    if kind == "text":
        return str(body.get("body") or ""), ()
    if kind == "audio" or kind in _MEDIA_KINDS:
        found = _attachment(kind, body)
        if found is None:
            return None
        return str(body.get("caption") or ""), (found,)
    if kind == "interactive":
        reply = _object(body.get("button_reply") or body.get("list_reply"))
        return str(reply.get("title") or ""), ()
    if kind == "button":
        return str(body.get("text") or ""), ()
    return None


def _contact_for(value: dict[str, Any], sender: str | None) -> dict[str, Any]:
    raw = value.get("contacts")
    contacts = [c for c in raw if isinstance(c, dict)] if isinstance(raw, list) else []
    for contact in contacts:
        if sender is not None and contact.get("wa_id") == sender:
            return contact
    return contacts[0] if len(contacts) == 1 else {}


def to_inbound(
    payload: Any, *, channel: str, account: str, phone_number_id: str, received_at: float = 0.0
) -> list[InboundMessage]:
    """The messages of one webhook payload meant for `phone_number_id`; raises PayloadError."""
    found: list[InboundMessage] = []
    for value in _values(payload):
        metadata = _object(value.get("metadata"))
        target = str(metadata.get("phone_number_id") or "")
        if target and target != phone_number_id:
            log.debug("whatsapp event for another number (%s) ignored", target)
            continue
        messages = value.get("messages")
        # Any other shape is Meta's to get right; a wrong one must be a 400, never a 500.
        for message in messages if isinstance(messages, list) else ():
            inbound = _one(message, value, channel, account, received_at)
            if inbound is not None:
                found.append(inbound)
    return found


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _one(
    message: Any, value: dict[str, Any], channel: str, account: str, received_at: float
) -> InboundMessage | None:
    if not isinstance(message, dict) or not isinstance(message.get("id"), str):
        log.warning("whatsapp message without an id ignored")
        return None
    sender = message.get("from") if isinstance(message.get("from"), str) else None
    contact = _contact_for(value, sender)
    who = sender or contact.get("user_id") or message.get("from_user_id")
    if not isinstance(who, str) or not who:
        log.warning("whatsapp message %s has no sender; ignored", message["id"])
        return None
    content = _content(message)
    if content is None:
        log.info("whatsapp message of type %r ignored", message.get("type"))
        return None
    text, attachments = content
    if not text.strip() and not attachments:
        return None
    profile = _object(contact.get("profile"))
    context = _object(message.get("context"))
    return InboundMessage(
        channel=channel,
        account=account,
        chat_kind="direct",
        peer_id=who,
        sender_id=who,
        sender_name=str(profile.get("name") or ""),
        text=text,
        message_id=message["id"],
        reply_to=context.get("id") if isinstance(context.get("id"), str) else None,
        mentioned=True,
        attachments=attachments,
        received_at=received_at,
    )
