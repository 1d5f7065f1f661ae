"""`cron.jobs[].delivery`: where a job's answer goes (OpenClaw's `delivery: {mode, channel, to}`).

    cron:
      jobs:
        - id: morning
          schedule: {cron: "0 7 * * *"}
          message: "Summarise today's calendar."
          delivery: {channel: telegram, to: "123456789"}      # mode: announce (the default)

`mode: none` (or no `delivery`) keeps the answer in the job's own `cron:<jobId>` session only.
`to` is the platform's chat id: a Telegram chat id, a Discord channel id, a WhatsApp number.
`accountId` names the bot it goes out through when the channel has several
(`channels.<name>.accounts`; rustyclaw/checks.py refuses one that is not configured).
"""

from __future__ import annotations

from typing import Literal

from pydantic import model_validator

from rustyclaw.config.base import ProblemsError, Section


class CronDeliveryConfig(Section):
    mode: Literal["announce", "none"] = "announce"
    channel: str | None = None
    to: str | None = None
    # None: the channel's default account (its own section); else an id in channels.<name>.accounts.
    account_id: str | None = None
    chat_kind: Literal["direct", "group", "channel"] = "direct"

    @model_validator(mode="after")
    def _target(self) -> CronDeliveryConfig:
        if self.mode == "announce":
            missing = [k for k in ("channel", "to") if not getattr(self, k)]
            if missing:
                raise ProblemsError([(k, 'mode "announce" needs channel and to (or set mode: none)')
                                     for k in missing])
            if self.channel == "last":
                raise ProblemsError([("channel", "'last' is not supported here: name the channel")])
        return self

