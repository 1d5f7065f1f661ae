"""The ControlPlane (ports/control.py) over what `rustyclaw serve` built: the session service, the
channel supervisor, the pairing files, the scheduler, the audit log, the MCP manager, the skills
catalog (rustyclaw/control_mcp_skills.py) and the loaded configuration.

Every source but the sessions is optional, so the control page works for a gateway without
channels or cron (and in tests that start only the core).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import msgspec

from rustyclaw.control_mcp_skills import mcp_views, skills_view
from rustyclaw.domain.audit import AuditRecord
from rustyclaw.domain.messages import ChatMessage, InboundMessage, SessionEntry
from rustyclaw.domain.pairing import PairingService, normalise_code
from rustyclaw.domain.session_keys import session_key
from rustyclaw.domain.sessions import SessionService
from rustyclaw.ports.clock import Clock
from rustyclaw.ports.control import (
    AgentView,
    AuditView,
    ChannelView,
    CronView,
    DailyUsage,
    McpServerView,
    PairingView,
    SessionView,
    SkillsView,
    TranscriptLine,
)
from rustyclaw.ports.pairing import PairingRequest

if TYPE_CHECKING:
    from rustyclaw.adapters.channels.supervisor import ChannelStatus
    from rustyclaw.adapters.cron.scheduler import CronScheduler
    from rustyclaw.adapters.mcp.manager import McpManager
    from rustyclaw.adapters.skills.catalog import SkillCatalog
    from rustyclaw.app import Root

log = logging.getLogger("rustyclaw.control")

TITLE_CHARS = 60
HIDDEN_AT = "hiddenAt"  # entry.meta key: when the chat page "deleted" the conversation


def _title(entry: SessionEntry, messages: list[ChatMessage]) -> str:
    title = entry.meta.get("title")
    if isinstance(title, str) and title:
        return title
    first = next((m.content for m in messages if m.role == "user" and m.content.strip()), "")
    text = " ".join(first.split())
    return text[:TITLE_CHARS] + ("…" if len(text) > TITLE_CHARS else "") if text else "New conversation"


def _status_of(message: ChatMessage) -> str | None:
    reason = message.meta.get("stopReason")
    if message.role == "assistant" and reason in ("length", "error", "cancelled", "tool_limit"):
        return str(reason)
    return None


class GatewayControl:
    """Implements ports.control.ControlPlane; see the module docstring."""

    def __init__(
        self,
        sessions: SessionService,
        clock: Clock,
        *,
        agents: list[AgentView],
        config_text: Callable[[], str],
        channels: Callable[[], list[ChannelStatus]] | None = None,
        pairing: PairingService | None = None,
        scheduler: Callable[[], CronScheduler | None] | None = None,
        audit_path: Path | None = None,
        audit_records: Callable[[int], Awaitable[list[AuditRecord]]] | None = None,
        tz: tzinfo | None = None,
        mcp: McpManager | None = None,
        skills: SkillCatalog | None = None,
        secrets: Sequence[str] = (),
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._agents = agents
        self._config_text = config_text
        self._channel_status = channels
        self._pairing = pairing
        self._scheduler = scheduler
        self._audit_path = audit_path
        # The audit log in PostgreSQL (every replica's records); else the file at audit_path.
        self._audit_records = audit_records
        self._tz = tz
        self._cron_tasks: set[str] = set()
        self._mcp = mcp
        self._skills = skills
        self._secrets = tuple(secrets)

    # -- sessions -------------------------------------------------------------

    def conversation_key(self, session: str, agent: str, channel: str) -> str:
        message = InboundMessage(channel=channel, peer_id=session, sender_id=session, session_hint=session)
        return session_key(message, agent, self._sessions.settings)

    async def _entries(self, channel: str | None) -> list[tuple[SessionEntry, list[ChatMessage]]]:
        store = self._sessions.store
        found = []
        for entry in await store.list_sessions():
            if channel is not None and entry.channel != channel:
                continue
            hidden = entry.meta.get(HIDDEN_AT)
            if isinstance(hidden, (int, float)) and entry.updated_at <= hidden:
                continue
            found.append((entry, await store.load_messages(entry)))
        found.sort(key=lambda pair: pair[0].updated_at, reverse=True)
        return found

    async def sessions(self, query: str = "", channel: str | None = None) -> list[SessionView]:
        wanted = query.strip().lower()
        views = []
        for entry, messages in await self._entries(channel):
            title = _title(entry, messages)
            if wanted and wanted not in entry.key.lower() and wanted not in title.lower() and not any(
                wanted in m.content.lower() for m in messages
            ):
                continue
            views.append(SessionView(
                key=entry.key, session_id=entry.session_id, agent_id=entry.agent_id, channel=entry.channel,
                title=title, created_at=entry.created_at, updated_at=entry.updated_at,
                messages=sum(1 for m in messages if m.role in ("user", "assistant") and m.content),
                input_tokens=entry.input_tokens, output_tokens=entry.output_tokens, model=entry.model,
            ))
        return views

    async def transcript(self, key: str) -> list[TranscriptLine] | None:
        entry = await self._sessions.store.get_session(key)
        if entry is None:
            return None
        return [
            TranscriptLine(role=m.role, content=m.content, created_at=m.created_at, name=m.name,
                           status=_status_of(m))
            for m in await self._sessions.store.load_messages(entry)
            if m.role in ("user", "assistant", "tool") and (m.content or m.role == "tool")
        ]

    async def reset(self, key: str) -> bool:
        if await self._sessions.store.get_session(key) is None:
            return False
        async with self._sessions.turn(key):
            await self._sessions.reset(key)
        return True

    async def rename(self, key: str, title: str) -> bool:
        # Under the session's turn lock: a turn in flight would otherwise write its older copy back.
        async with self._sessions.turn(key):
            entry = await self._sessions.store.get_session(key)
            if entry is None:
                return False
            entry.meta["title"] = title
            await self._sessions.store.put_session(entry)
        return True

    async def hide(self, key: str) -> bool:
        async with self._sessions.turn(key):
            if await self._sessions.store.get_session(key) is None:
                return False
            entry = await self._sessions.reset(key)
            entry.meta[HIDDEN_AT] = max(self._clock.now(), entry.updated_at)
            entry.meta.pop("title", None)
            await self._sessions.store.put_session(entry)
        return True

    # -- channels and pairing -------------------------------------------------

    async def channels(self) -> list[ChannelView]:
        statuses = self._channel_status() if self._channel_status is not None else []
        return [ChannelView(name=s.name, account=s.account, state=s.state, last_error=s.last_error,
                            restarts=s.restarts) for s in statuses]

    async def pairing_requests(self) -> list[PairingView]:
        if self._pairing is None:
            return []
        views = []
        for channel in await self._pairing.store.channels():
            for request in await self._pairing.pending(channel):
                views.append(PairingView(channel=channel, code=request.code, sender_id=request.sender_id,
                                         sender_name=request.sender_name, created_at=request.created_at))
        return views

    async def approve(self, channel: str, code: str) -> bool:
        return self._pairing is not None and await self._pairing.approve(channel, code) is not None

    async def deny(self, channel: str, code: str) -> bool:
        if self._pairing is None:
            return False
        wanted = normalise_code(code)

        def drop(requests: list[PairingRequest]) -> bool:
            before = len(requests)
            requests[:] = [r for r in requests if r.code != wanted]
            return len(requests) != before

        found: bool = await self._pairing.store.update_pending(channel, drop)
        return found

    # -- agents, cron, audit, usage, config -----------------------------------

    def agents(self) -> list[AgentView]:
        return list(self._agents)

    def cron_jobs(self) -> list[CronView]:
        scheduler = self._scheduler() if self._scheduler is not None else None
        if scheduler is None:
            return []
        views = []
        for job_id in scheduler.jobs:
            state = scheduler.states.get(job_id)
            views.append(CronView(
                id=job_id, schedule=state.signature if state else "", next_run=state.next_run if state else None,
                last_run=state.last_run if state else None, last_status=state.last_status if state else None,
                last_error=state.last_error if state else None, runs=state.runs if state else 0,
                running=job_id in self._cron_tasks,
            ))
        return views

    async def run_cron(self, job_id: str) -> bool:
        scheduler = self._scheduler() if self._scheduler is not None else None
        if scheduler is None or job_id not in scheduler.jobs:
            return False
        if job_id in self._cron_tasks:
            return True  # already running
        self._cron_tasks.add(job_id)
        try:
            await scheduler.run_now(job_id)
        finally:
            self._cron_tasks.discard(job_id)
        return True

    async def audit(self, limit: int = 200) -> list[AuditView]:
        if self._audit_records is not None:
            records = await self._audit_records(limit)
            return [AuditView(at=r.time, tool=r.tool, decision=r.verdict, session_key=r.session,
                              detail=f"{r.status} {r.rule}".strip()) for r in reversed(records)]
        path = self._audit_path
        if path is None:
            return []
        lines = await anyio.to_thread.run_sync(_tail_lines, path, limit)
        views = []
        for line in lines:
            try:
                raw = msgspec.json.decode(line)
            except msgspec.DecodeError:
                continue
            if not isinstance(raw, dict):
                continue
            views.append(AuditView(
                at=float(raw.get("time", 0.0)), tool=str(raw.get("tool", "")),
                decision=str(raw.get("verdict", "")), session_key=str(raw.get("session", "")),
                detail=f"{raw.get('status', '')} {raw.get('rule', '')}".strip(),
            ))
        views.reverse()
        return views

    async def usage(self, days: int = 14) -> list[DailyUsage]:
        """Tokens per day from the transcripts: each stored message keeps its own token count
        (prompts are counted once as the user's message, answers as the assistant's)."""
        totals: dict[str, list[int]] = {}
        for entry in await self._sessions.store.list_sessions():
            for message in await self._sessions.store.load_messages(entry):
                if message.tokens < 0 or not message.created_at:
                    continue
                day = datetime.fromtimestamp(message.created_at, self._tz).strftime("%Y-%m-%d")
                slot = totals.setdefault(day, [0, 0])
                slot[0 if message.role in ("user", "tool") else 1] += message.tokens
        return [DailyUsage(day=day, input_tokens=v[0], output_tokens=v[1])
                for day, v in sorted(totals.items())[-days:]]

    def mcp_servers(self) -> list[McpServerView]:
        return mcp_views(self._mcp, self._secrets)

    async def skills(self) -> SkillsView:
        return skills_view(self._skills, [a.id for a in self._agents])

    def config(self) -> str:
        return self._config_text()


def _tail_lines(path: Path, limit: int) -> list[bytes]:
    try:
        with open(path, "rb") as handle:
            return [line for line in handle.read().splitlines() if line.strip()][-limit:]
    except FileNotFoundError:
        return []


def control_of(root: Root) -> GatewayControl:
    """The ControlPlane of a started `serve` Root (rustyclaw/app.py, rustyclaw/serving.py)."""
    from rustyclaw.config.render import render_config
    from rustyclaw.plugins_setup import gateway_zone

    cfg = root.settings.config
    agents_settings = root.settings.agents
    default_model = root.llm.model_for("default") if root.llm is not None else ""
    agents = [AgentView(id=a, model=agents_settings.agent_models.get(a) or default_model,
                        default=a == agents_settings.default_agent) for a in agents_settings.agent_ids]
    # The PairingService the channels' access control uses (the shared state's pairing store).
    pairing = root.channels.pairing if root.channels is not None and root.channels.channels else None
    serving = root.serving

    def channel_status() -> list[ChannelStatus]:
        return serving.channel_status() if serving is not None else []

    return GatewayControl(
        root.gateway.sessions, root.clock, agents=agents,
        config_text=lambda: render_config(cfg, fmt="yaml"),
        channels=channel_status,
        pairing=pairing,
        scheduler=lambda: root.plugins.scheduler if root.plugins is not None else None,
        audit_path=root.state_dir / "audit" / "tools.jsonl",
        audit_records=root.shared.audit_recent,
        tz=gateway_zone(cfg.gateway.timezone),
        mcp=root.mcp.manager,
        skills=root.skills.catalog,
        secrets=root.settings.secrets,
    )
