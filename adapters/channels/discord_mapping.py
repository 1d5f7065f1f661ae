"""Discord messages (the gateway's MESSAGE_CREATE payloads) to InboundMessages: chat kinds, mentions, attachments, ids.

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


def is_mentioned(message: dict[str, Any], bot_id: int) -> bool:
    if any(str(user.get("id")) == str(bot_id) for user in message.get("mentions") or ()):
        return True
    content = message.get("content")
    if content and _mention_pattern(bot_id).search(content):
        return True
    ref = message.get("referenced_message")
    author_id = ((ref or {}).get("author") or {}).get("id")
    return author_id is not None and int(author_id) == bot_id


def _kind_of(content_type: str | None, voice: bool) -> Any:
    if voice:
        return "voice"
    major = (content_type or "").split("/", 1)[0]
    return {"audio": "audio", "image": "image", "video": "video"}.get(major, "file")


def attachments_of(message: dict[str, Any]) -> tuple[Attachment, ...]:
    voice = bool(int(message.get("flags") or 0) & _VOICE_FLAG)
    return tuple(
        Attachment(
            kind=_kind_of(a.get("content_type"), voice), mime=a.get("content_type") or "application/octet-stream",
            name=a.get("filename"), url=a.get("url"), size=a.get("size"),
        )
        for a in message.get("attachments") or ()
    )


def sender_name_of(author: dict[str, Any]) -> str:
    return str(author.get("global_name") or author.get("username") or author["id"])


def to_inbound(
    message: dict[str, Any], *, channel: str, account: str, bot_id: int, received_at: float = 0.0
) -> InboundMessage | None:
    """The InboundMessage for a MESSAGE_CREATE payload, or None when there is nothing to answer."""
    author = message.get("author")
    if not author or int(author["id"]) == bot_id or author.get("bot") or author.get("system"):
        return None
    attachments = attachments_of(message)
    text = _mention_pattern(bot_id).sub("", message.get("content") or "").strip()
    if not text and not attachments:
        return None
    guild_id = message.get("guild_id")
    kind: ChatKind = "direct" if guild_id is None else "channel"
    ref_id = (message.get("message_reference") or {}).get("message_id")
    return InboundMessage(
        channel=channel,
        account=account,
        chat_kind=kind,
        peer_id=str(message["channel_id"]),
        sender_id=str(author["id"]),
        sender_name=sender_name_of(author),
        text=text,
        message_id=str(message["id"]),
        reply_to=str(ref_id) if ref_id is not None else None,
        mentioned=True if kind == "direct" else is_mentioned(message, bot_id),
        attachments=attachments,
        received_at=received_at,
        guild_id=str(guild_id) if guild_id is not None else None,
    )
