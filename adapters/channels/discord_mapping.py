"""Discord messages (hikari objects) to InboundMessages: chat kinds, mentions, attachments, ids.

- A message without a guild is a DM: `chat_kind="direct"`, `peer_id` the DM channel's id (replies
  go to a channel, never to a user), `sender_id` the author's user id (allowFrom and pairing use
  it). A guild message is `chat_kind="channel"` with `peer_id` the text channel's id, so sessions
  are keyed `...:discord:channel:<id>` as in OpenClaw and `groups`/`groupAllowFrom` list channel
  ids. Threads are channels of their own on Discord and arrive the same way.
- The bot is mentioned when it is among the message's user mentions, when its `<@id>` appears in
  the text, or when the message replies to one of the bot's messages. The mention itself is cut
  out of the text the model sees.
- Voice messages (flag IS_VOICE_MESSAGE) become `Attachment(kind="voice")`, other attachments
  audio/image/video/file by content type; each carries its CDN url, nothing is downloaded here.
"""

from __future__ import annotations

import re
from typing import Any

from rustyclaw.domain.messages import Attachment, ChatKind, InboundMessage

_VOICE_FLAG = 1 << 13


def _mention_pattern(bot_id: int) -> re.Pattern[str]:
    return re.compile(rf"<@!?{bot_id}>")


def is_mentioned(message: Any, bot_id: int) -> bool:
    if bot_id in set(message.user_mentions_ids or ()):
        return True
    if message.content and _mention_pattern(bot_id).search(message.content):
        return True
    ref = message.referenced_message
    # A partial message's author may be hikari's UNDEFINED, which has no id.
    author_id = getattr(getattr(ref, "author", None), "id", None)
    return author_id is not None and int(author_id) == bot_id


def _kind_of(content_type: str | None, voice: bool) -> Any:
    if voice:
        return "voice"
    major = (content_type or "").split("/", 1)[0]
    return {"audio": "audio", "image": "image", "video": "video"}.get(major, "file")


def attachments_of(message: Any) -> tuple[Attachment, ...]:
    voice = bool(int(message.flags or 0) & _VOICE_FLAG)
    return tuple(
        Attachment(
            kind=_kind_of(a.media_type, voice), mime=a.media_type or "application/octet-stream",
            name=a.filename, url=a.url, size=a.size,
        )
        for a in message.attachments
    )


def sender_name_of(author: Any) -> str:
    return str(getattr(author, "global_name", None) or author.username or author.id)


def to_inbound(
    message: Any, *, channel: str, account: str, bot_id: int, received_at: float = 0.0
) -> InboundMessage | None:
    """The InboundMessage for a hikari `Message`, or None when there is nothing to answer."""
    author = message.author
    if author is None or int(author.id) == bot_id or author.is_bot or author.is_system:
        return None
    attachments = attachments_of(message)
    text = _mention_pattern(bot_id).sub("", message.content or "").strip()
    if not text and not attachments:
        return None
    kind: ChatKind = "direct" if message.guild_id is None else "channel"
    ref = message.message_reference
    return InboundMessage(
        channel=channel,
        account=account,
        chat_kind=kind,
        peer_id=str(message.channel_id),
        sender_id=str(author.id),
        sender_name=sender_name_of(author),
        text=text,
        message_id=str(message.id),
        reply_to=str(ref.id) if ref is not None and ref.id is not None else None,
        mentioned=True if kind == "direct" else is_mentioned(message, bot_id),
        attachments=attachments,
        received_at=received_at,
        guild_id=str(message.guild_id) if message.guild_id is not None else None,
    )
