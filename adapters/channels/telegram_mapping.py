"""Telegram updates (aiogram objects) to InboundMessages: chat kinds, mentions, media, ids.

- private chats are `direct`; groups and supergroups are `group`; a forum topic message is a
  `thread` (its `message_thread_id` is the thread id); a broadcast channel post is `channel`.
- a message mentions the bot through an `@username` mention or text mention of it, a command
  addressed to it (`/help@bot`), the plain text `@username`, or a reply to one of its messages.
- voice notes, audio, documents and photos become Attachments whose `url` is
  `telegram-file:<file_id>` (see `file_id_of`); downloading is left to whoever needs the bytes.
- the message id is `<chat id>:<message id>`, unique per bot, used by the gateway to answer a
  platform redelivery once.
"""

from __future__ import annotations

import re
from typing import Any

from rustyclaw.domain.messages import Attachment, ChatKind, InboundMessage

FILE_URL_PREFIX = "telegram-file:"


def file_id_of(attachment: Attachment) -> str | None:
    """The Telegram file id an attachment carries (for `getFile`), or None."""
    url = attachment.url or ""
    return url[len(FILE_URL_PREFIX):] if url.startswith(FILE_URL_PREFIX) else None


def chat_kind_of(message: Any) -> ChatKind | None:
    kind = message.chat.type
    if kind == "private":
        return "direct"
    if kind in ("group", "supergroup"):
        if message.is_topic_message and message.message_thread_id is not None:
            return "thread"
        return "group"
    if kind == "channel":
        return "channel"
    return None


def _mention_pattern(username: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w@])@{re.escape(username)}(?!\w)", re.IGNORECASE)


def is_mentioned(message: Any, bot_id: int, username: str | None) -> bool:
    text = message.text or message.caption or ""
    handle = f"@{username}".lower() if username else None
    for entity in message.entities or message.caption_entities or []:
        if entity.type == "text_mention" and entity.user is not None and entity.user.id == bot_id:
            return True
        if handle and entity.type in ("mention", "bot_command"):
            value = entity.extract_from(text).lower()
            if value == handle or (entity.type == "bot_command" and value.endswith(handle)):
                return True
    if username and _mention_pattern(username).search(text):
        return True
    reply = message.reply_to_message
    return bool(reply is not None and reply.from_user is not None and reply.from_user.id == bot_id)


def attachments_of(message: Any) -> tuple[Attachment, ...]:
    found: list[Attachment] = []
    if message.voice is not None:
        v = message.voice
        found.append(Attachment(kind="voice", mime=v.mime_type or "audio/ogg", size=v.file_size,
                                url=FILE_URL_PREFIX + v.file_id))
    if message.audio is not None:
        a = message.audio
        found.append(Attachment(kind="audio", mime=a.mime_type or "audio/mpeg", name=a.file_name,
                                size=a.file_size, url=FILE_URL_PREFIX + a.file_id))
    if message.document is not None:
        d = message.document
        found.append(Attachment(kind="file", mime=d.mime_type or "application/octet-stream",
                                name=d.file_name, size=d.file_size, url=FILE_URL_PREFIX + d.file_id))
    if message.photo:
        p = max(message.photo, key=lambda size: size.width * size.height)
        found.append(Attachment(kind="image", mime="image/jpeg", size=p.file_size,
                                url=FILE_URL_PREFIX + p.file_id))
    return tuple(found)


def sender_name_of(user: Any) -> str:
    if user is None:
        return ""
    return str(user.username or user.full_name or "")


def to_inbound(
    update: Any, *, channel: str, account: str, bot_id: int, username: str | None
) -> InboundMessage | None:
    """The InboundMessage for a new message or channel post; None for anything else
    (edits, service messages, stickers, callback queries, unknown chat types)."""
    message = update.message or update.channel_post
    if message is None:
        return None
    kind = chat_kind_of(message)
    if kind is None:
        return None
    text = message.text or message.caption or ""
    attachments = attachments_of(message)
    if not text.strip() and not attachments:
        return None
    chat_id = str(message.chat.id)
    user = message.from_user
    if user is not None:
        sender_id, sender_name = str(user.id), sender_name_of(user)
    elif message.sender_chat is not None:
        sender_id, sender_name = str(message.sender_chat.id), str(message.sender_chat.title or "")
    else:
        sender_id, sender_name = chat_id, ""
    if user is not None and user.id == bot_id:
        return None  # our own message echoed back (channel posts, some local API servers)
    reply = message.reply_to_message
    return InboundMessage(
        channel=channel,
        account=account,
        peer_id=chat_id,
        sender_id=sender_id,
        sender_name=sender_name,
        text=text,
        chat_kind=kind,
        thread_id=str(message.message_thread_id) if kind == "thread" else None,
        message_id=f"{chat_id}:{message.message_id}",
        reply_to=f"{chat_id}:{reply.message_id}" if reply is not None else None,
        mentioned=True if kind == "direct" else is_mentioned(message, bot_id, username),
        attachments=attachments,
        received_at=message.date.timestamp() if message.date is not None else 0.0,
    )
