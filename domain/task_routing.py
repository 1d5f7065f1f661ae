"""Which route (`llm.routes.<task>`) a model request takes, by what the turn is.

- `vision`: the message carries an image;
- `code`: the message holds code (a fenced block, a diff, or a traceback);
- `fast`: a short one-line message (a greeting, a yes/no), when it asks for no tools by its look;
- `summary`: compaction and memory-flush requests (set where they are made);
- `default`: everything else.

A task without its own route takes `default` (adapters/llm/routing.py), so naming a task costs
nothing until a route for it is configured. An agent's own `model` (or a session's `/model`)
still comes first: the task's route then supplies the fallbacks.
"""

from __future__ import annotations

import re

from rustyclaw.domain.messages import InboundMessage

SUMMARY_TASK = "summary"
FAST_MAX_CHARS = 40

_CODE = re.compile(
    r"```|^(diff --git|@@ |\+\+\+ |--- a/)|Traceback \(most recent call last\)|^\s*(def|class|import|fn|func) \w",
    re.MULTILINE,
)


def turn_task(message: InboundMessage) -> str:
    if any(a.kind == "image" for a in message.attachments):
        return "vision"
    text = message.text
    if _CODE.search(text):
        return "code"
    stripped = text.strip()
    if stripped and len(stripped) <= FAST_MAX_CHARS and "\n" not in stripped and not stripped.startswith("/"):
        return "fast"
    return "default"
