"""Security findings about a configuration that is valid but risky, for the start-up log and
`rustyclaw doctor` (OpenClaw's `security audit` findings: id, severity, title, detail, remediation).

`security_findings(cfg, approved)` is pure: `approved` maps a channel to the senders approved by
pairing (the store's `approved(channel)`); `approved_senders(store, channels)` reads them.
`log_findings` writes each finding to the log once at start.

The multi-user check: with `sessions.dmScope: main` (the default, as in OpenClaw) every direct
chat of every channel is the one main session, so when more than one sender can reach it, each
sees the others' messages in the model's context (and their tool results and memory).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

from rustyclaw.config.channels import ChannelAccessConfig
from rustyclaw.config.schema import RustyClawConfig

log = logging.getLogger("rustyclaw.security")

Severity = Literal["info", "warn", "critical"]
SHARED_MAIN_SESSION = "session.dm_scope_shared"
ISOLATING_SCOPE = "per-channel-peer"


@dataclass(frozen=True, slots=True)
class Finding:
    check_id: str
    severity: Severity
    title: str
    detail: str
    remediation: str


class ApprovedSenders(Protocol):
    """The part of the pairing store these checks read."""

    async def approved(self, channel: str) -> frozenset[str]: ...


def platform_channels(cfg: RustyClawConfig) -> dict[str, ChannelAccessConfig]:
    """Enabled chat platforms (built-in and registered) with their access settings."""
    channels = cfg.channels
    found: dict[str, ChannelAccessConfig] = {
        name: section for name, section in
        (("telegram", channels.telegram), ("discord", channels.discord), ("whatsapp", channels.whatsapp))
        if section.enabled
    }
    found.update({name: section for name, section in channels.registered.items() if section.enabled})
    return found


async def approved_senders(store: ApprovedSenders, channels: Iterable[str]) -> dict[str, frozenset[str]]:
    return {name: await store.approved(name) for name in channels}


def _reach(name: str, section: ChannelAccessConfig, approved: frozenset[str]) -> tuple[set[str], bool]:
    """(known senders that can reach a direct chat, whether anyone else can too)."""
    if section.dm_policy == "disabled":
        return set(), False
    listed = {f"{name}:{sender}" for sender in section.allow_from if sender != "*"}
    listed |= {f"{name}:{sender}" for sender in approved}
    anyone = section.dm_policy == "open" or "*" in section.allow_from
    return listed, anyone


def shared_main_session(
    cfg: RustyClawConfig, approved: Mapping[str, frozenset[str]] | None = None
) -> list[Finding]:
    """A finding when more than one sender's direct chats land in one shared session."""
    sessions = cfg.sessions
    if sessions.scope != "global" and sessions.dm_scope != "main":
        return []
    senders: set[str] = set()
    open_to: list[str] = []
    pairing: list[str] = []
    for name, section in platform_channels(cfg).items():
        listed, anyone = _reach(name, section, (approved or {}).get(name, frozenset()))
        senders |= listed
        if anyone:
            open_to.append(name)
        elif section.dm_policy == "pairing":
            pairing.append(name)
    where = "sessions.scope: global" if sessions.scope == "global" else "sessions.dmScope: main"
    fix = (f"set sessions.dmScope: {ISOLATING_SCOPE} (one session per sender and channel)"
           + (" and sessions.scope: per-sender" if sessions.scope == "global" else ""))
    if open_to:
        return [Finding(
            SHARED_MAIN_SESSION, "critical",
            "Anyone who messages the bot shares one session",
            f"{where}, and direct messages are open to everyone on {', '.join(sorted(open_to))}: every "
            "sender's messages, the model's answers and tool results are in one shared context.",
            fix,
        )]
    if len(senders) > 1:
        shown = ", ".join(sorted(senders)[:5]) + (", ..." if len(senders) > 5 else "")
        return [Finding(
            SHARED_MAIN_SESSION, "warn",
            f"{len(senders)} senders share one session",
            f"{where}: the direct chats of {shown} all go to the same session, so each of them "
            "sees what the others said (ignore this if they are all you).",
            fix,
        )]
    if pairing:
        return [Finding(
            SHARED_MAIN_SESSION, "info",
            "Senders approved by pairing will share one session",
            f"{where}: a second sender approved on {', '.join(sorted(pairing))} would share the main "
            "session with the first.",
            fix + " before approving other people",
        )]
    return []


def security_findings(
    cfg: RustyClawConfig, approved: Mapping[str, frozenset[str]] | None = None
) -> list[Finding]:
    """Every finding about `cfg`, most severe first."""
    order = {"critical": 0, "warn": 1, "info": 2}
    return sorted(shared_main_session(cfg, approved), key=lambda f: order[f.severity])


def log_findings(findings: Iterable[Finding]) -> None:
    """Warns at start for each finding above `info` (info goes to the debug log)."""
    for finding in findings:
        level = logging.DEBUG if finding.severity == "info" else logging.WARNING
        log.log(level, "security: %s: %s. Fix: %s", finding.title, finding.detail, finding.remediation,
                extra={"check": finding.check_id, "severity": finding.severity})
