"""Which route (`llm.routes.<task>`) a model request takes, by what the turn is.

- `vision`: the message carries an image;
- `code`: the message holds code (a fenced block, a diff, or a traceback);
- `fast`: a short one-line message (a greeting, a yes/no), when it asks for no tools by its look;
- `summary`: compaction and memory-flush requests (set where they are made);
- `default`: everything else.

A task without its own route takes `default` (adapters/llm/routing.py), so naming a task costs
nothing until a route for it is configured. An agent's own `model` (or a session's `/model`)
still comes first: the task's route then supplies the fallbacks. Two exceptions (`turn_model`):
a task the agent routes itself (`agents.list[].routes.<task>`) takes that route, and an image
always takes the vision route, since a model picked for text would not see it.
"""

from __future__ import annotations

import re

from rustyclaw.domain.messages import Attachment, InboundMessage
from rustyclaw.domain.settings import AgentSettings

SUMMARY_TASK = "summary"
VISION_TASK = "vision"
FAST_MAX_CHARS = 40

_CODE = re.compile(
    r"```|^(diff --git|@@ |\+\+\+ |--- a/)|Traceback \(most recent call last\)|^\s*(def|class|import|fn|func) \w",
    re.MULTILINE,
)


def turn_task(message: InboundMessage) -> str:
    if images_of(message):
        return VISION_TASK
    return text_task(message.text)


def images_of(message: InboundMessage) -> tuple[Attachment, ...]:
    return tuple(a for a in message.attachments if a.kind == "image")


def routes_task(settings: AgentSettings, agent_id: str, task: str) -> bool:
    """A route exists for the task: the agent's own or `llm.routes`."""
    return task in settings.agent_tasks.get(agent_id, frozenset()) or task in settings.routed_tasks


def turn_model(settings: AgentSettings, agent_id: str, task: str, session_model: str | None) -> str | None:
    """The model a turn names ahead of its task's route; None: the route alone decides."""
    if task == VISION_TASK:
        return None
    if session_model:
        return session_model
    if task in settings.agent_tasks.get(agent_id, frozenset()):
        return None
    return settings.agent_models.get(agent_id)


def text_task(text: str) -> str:
    if _CODE.search(text):
        return "code"
    stripped = text.strip()
    if stripped and len(stripped) <= FAST_MAX_CHARS and "\n" not in stripped and not stripped.startswith("/"):
        return "fast"
    return "default"
