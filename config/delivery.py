"""The `delivery` section: at-least-once delivery of chat platform messages (ports/inbox.py)."""

from __future__ import annotations

from pydantic import Field

from rustyclaw.config.base import Section


class DeliveryConfig(Section):
    """The inbound journal, the drain at a stop, and how long finished entries are kept.

    With `journal` on, every accepted Telegram, WhatsApp and Discord message is on disk before the
    platform is told it arrived, and a restart answers what was left unanswered. At a stop
    (SIGTERM) running turns get `drainSeconds` to finish; the rest wait in the journal.
    """

    journal: bool = True
    drain_seconds: float = Field(20.0, ge=0, le=600)
    keep_days: float = Field(7.0, gt=0)
