"""Maps the pydantic configuration onto the domain's plain settings."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from rustyclaw.config.schema import ResetConfig, RustyClawConfig
from rustyclaw.domain.bindings import Binding, PeerMatch
from rustyclaw.domain.settings import AgentSettings, PruningSettings, ResetPolicy, SessionSettings


def secret_value(value: Any) -> str | None:
    """Plain text of a secret field whether it is a SecretStr or a str."""
    if value is None:
        return None
    getter = getattr(value, "get_secret_value", None)
    return str(getter() if getter is not None else value)


def _reset(cfg: ResetConfig) -> ResetPolicy:
    return ResetPolicy(mode=cfg.mode, at_hour=cfg.at_hour, idle_minutes=cfg.idle_minutes)


def session_settings(cfg: RustyClawConfig) -> SessionSettings:
    s = cfg.sessions
    return SessionSettings(
        scope=s.scope,
        dm_scope=s.dm_scope,
        main_key=s.main_key,
        reset=_reset(s.reset),
        reset_by_type={k: _reset(v) for k, v in s.reset_by_type.items()},
        reset_by_channel={k: _reset(v) for k, v in s.reset_by_channel.items()},
        reset_triggers=tuple(s.reset_triggers),
        timezone=ZoneInfo(cfg.gateway.timezone) if cfg.gateway.timezone else None,
    )


def agent_settings(cfg: RustyClawConfig) -> AgentSettings:
    agents = cfg.agents
    p = cfg.sessions.pruning
    listed = [a.id for a in agents.list]
    ids = tuple(dict.fromkeys([agents.default_agent, *listed]))
    return AgentSettings(
        default_agent=agents.default_agent,
        agent_ids=ids,
        context_tokens=cfg.llm.context_tokens,
        max_completion_tokens=cfg.llm.max_tokens,
        temperature=cfg.llm.temperature,
        max_tool_iterations=agents.max_tool_iterations,
        bootstrap_max_chars=agents.bootstrap_max_chars,
        bootstrap_total_max_chars=agents.bootstrap_total_max_chars,
        system_prompt=agents.system_prompt,
        max_message_chars=cfg.gateway.max_message_chars,
        turn_timeout_seconds=cfg.gateway.request_timeout_seconds,
        agent_models={a.id: a.model for a in agents.list if a.model},
        routed_tasks=frozenset(cfg.llm.routes),
        agent_tasks={a.id: frozenset(a.routes) for a in agents.list if a.routes},
        bindings=bindings_of(cfg),
        pruning=PruningSettings(
            keep_last_assistants=p.keep_last_assistants,
            soft_trim_max_chars=p.soft_trim_max_chars,
            soft_trim_head_chars=p.soft_trim_head_chars,
            soft_trim_tail_chars=p.soft_trim_tail_chars,
        ),
    )


def bindings_of(cfg: RustyClawConfig) -> tuple[Binding, ...]:
    """`bindings` as the router's plain values, in the order configured."""
    return tuple(
        Binding(
            agent_id=b.agent_id, channel=b.match.channel, account_id=b.match.account_id,
            peer=PeerMatch(kind=b.match.peer.kind, id=b.match.peer.id) if b.match.peer is not None else None,
            guild_id=b.match.guild_id, team_id=b.match.team_id,
        )
        for b in cfg.bindings
    )
