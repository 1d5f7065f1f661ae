"""Images without a model to see them: said plainly to the user instead of silently dropped.

An image goes to the model only on a `vision` route (`llm.routes.vision`, or the agent's own
`agents.list[].routes.vision`; domain/task_routing.py). Without one, an image without a caption
gets `IMAGE_NOTICE` (what to configure) and no model turn runs; with a caption the turn answers
the caption and the reply starts with `CAPTION_NOTICE`, so the user knows why the answer ignores
the picture.
"""

from __future__ import annotations

import msgspec

from rustyclaw.domain.events import Reply
from rustyclaw.domain.messages import InboundMessage

IMAGE_NOTICE = (
    "I can't see images: no vision model is configured. To let me see them, set llm.routes.vision "
    "to a model that reads images (for example `vision: {primary: ollama/llava}`), or "
    "agents.list[].routes.vision for one agent. Meanwhile, please describe the picture or type your question."
)
CAPTION_NOTICE = (
    "(I can't see the image you sent, only its caption: no vision model is configured, see llm.routes.vision.)"
)


def unseen_images(message: InboundMessage) -> bool:
    return any(a.kind == "image" for a in message.attachments)


def with_caption_notice(reply: Reply) -> Reply:
    """The reply to a captioned image, prefixed by the notice (errors and commands left alone)."""
    if reply.error is not None or reply.command is not None or not reply.text.strip():
        return reply
    return msgspec.structs.replace(reply, text=f"{CAPTION_NOTICE}\n\n{reply.text}")
