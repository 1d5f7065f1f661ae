"""Images the model cannot see: said plainly to the user instead of silently dropped.

No route sends images to a vision model yet, so an image that arrives on a channel is never seen
by the model. Without a caption the user gets `IMAGE_NOTICE` and no model turn runs; with one the
turn answers the caption and the reply starts with the notice, so the user knows why the answer
ignores the picture.
"""

from __future__ import annotations

import msgspec

from rustyclaw.domain.events import Reply
from rustyclaw.domain.messages import InboundMessage

IMAGE_NOTICE = (
    "I can't see images: the model I use reads text only. Please describe the picture or type your question."
)
CAPTION_NOTICE = "(I can't see the image you sent, only its caption.)"


def unseen_images(message: InboundMessage) -> bool:
    return any(a.kind == "image" for a in message.attachments)


def with_caption_notice(reply: Reply) -> Reply:
    """The reply to a captioned image, prefixed by the notice (errors and commands left alone)."""
    if reply.error is not None or reply.command is not None or not reply.text.strip():
        return reply
    return msgspec.structs.replace(reply, text=f"{CAPTION_NOTICE}\n\n{reply.text}")
