"""Builds the built-in tools and the configured tool policy from the config (composition root side).

    setup = build_tools(cfg, store=store, sessions_service=sessions, workspace_root=Path(cfg.agents.workspace),
                        sandbox=sandbox_or_None, channels_send=send_or_None, audit=JsonlAuditLog(...))
    setup.registry.register(SessionStatusTool(store, model_of))   # the registry is audited
    runner = AgentRunner(llm, setup.registry, ...)
    gateway = Gateway(..., elevation=setup.policy)
    ...
    await setup.aclose()   # closes the web tools' HTTP clients and the audit log
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from rustyclaw.adapters.tools.exec import ExecTool
from rustyclaw.adapters.tools.fs import ApplyPatchTool, EditTool, ReadTool, WriteTool
from rustyclaw.adapters.tools.message import ChannelSend, MessageTool
from rustyclaw.adapters.tools.session_turns import SessionsSendTool, SessionsSpawnTool, SessionTurns, SpawnLimits
from rustyclaw.adapters.tools.sessions import SessionsHistoryTool, SessionsListTool
from rustyclaw.adapters.tools.ssrf import Guard, Resolver
from rustyclaw.adapters.tools.web_fetch import WebFetchTool
from rustyclaw.adapters.tools.web_search import WebSearchTool
from rustyclaw.checks import agent_ids
from rustyclaw.config.browser import BrowserConfig
from rustyclaw.config.sandbox import SandboxConfig
from rustyclaw.config.schema import RustyClawConfig
from rustyclaw.config.tools import AgentElevatedConfig, ElevatedConfig, ToolPolicyConfig
from rustyclaw.domain.audit import AuditedRegistry
from rustyclaw.domain.elevation import ElevatedSettings
from rustyclaw.domain.policy import AllowDeny, ConfiguredPolicy, PolicySettings, exec_gate
from rustyclaw.domain.reply_media import ReplyMedia
from rustyclaw.domain.sessions import SessionService
from rustyclaw.ports.audit import AuditSink
from rustyclaw.ports.sandbox import Sandbox, SandboxSpec
from rustyclaw.ports.session_store import SessionStore
from rustyclaw.ports.tools import Tool

if TYPE_CHECKING:
    # The browser tool's modules (with the sandbox engine client) are about 2.5 MB of RSS: imported
    # by browser_tool(), only when browser.enabled.
    from rustyclaw.adapters.tools.browser import BrowserTool
    from rustyclaw.adapters.tools.browser_container import ContainerSettings


class ToolSetup(NamedTuple):
    """`tools, policy` for a plain ToolRegistry; `registry` already holds both and audits each call."""

    tools: list[Tool]
    policy: ConfiguredPolicy
    registry: AuditedRegistry
    # Turns in other sessions (sessions_send, sessions_spawn): bind it to the gateway once it exists.
    turns: SessionTurns | None = None
    # The browser's screenshots for the turn's reply: give it to the gateway (`gateway.media`).
    media: ReplyMedia | None = None

    async def aclose(self) -> None:
        for tool in self.tools:
            closer = getattr(tool, "aclose", None)
            if closer is not None:
                await closer()
        audit = getattr(self.registry, "_audit", None)
        if audit is not None:
            await audit.aclose()


def _allow_deny(section: ToolPolicyConfig) -> AllowDeny:
    return AllowDeny(allow=tuple(section.allow), deny=tuple(section.deny))


def _elevated(section: ElevatedConfig | AgentElevatedConfig) -> ElevatedSettings:
    return ElevatedSettings(
        enabled=bool(section.enabled),
        allow_from={str(ch): tuple(str(s) for s in ids) for ch, ids in section.allow_from.items()},
    )


def policy_settings(cfg: RustyClawConfig) -> PolicySettings:
    """The `tools` section (and each `agents.list[].tools`) as the policy engine's plain values."""
    tools = cfg.tools
    agents = [(a.id, a.tools) for a in cfg.agents.list if a.tools is not None]
    return PolicySettings(
        profile=tools.profile,
        allow=tuple(tools.allow),
        deny=tuple(tools.deny),
        by_provider={k: _allow_deny(v) for k, v in tools.by_provider.items()},
        by_agent={agent_id: _allow_deny(own) for agent_id, own in agents},
        by_sender={k: _allow_deny(v) for k, v in tools.by_sender.items()},
        elevated=_elevated(tools.elevated),
        agent_elevated={agent_id: _elevated(own.elevated) for agent_id, own in agents if own.elevated is not None},
    )


def agent_sandbox_modes(cfg: RustyClawConfig) -> dict[str, str]:
    """Agents with their own `sandbox.mode` (agents.list[].sandbox)."""
    return {a.id: a.sandbox.mode for a in cfg.agents.list if a.sandbox is not None and a.sandbox.mode is not None}


def agent_sandboxes(cfg: RustyClawConfig) -> dict[str, SandboxConfig]:
    """Each agent with sandbox settings of its own: the shared section with them in place."""
    return {a.id: cfg.sandbox.for_agent(a.sandbox) for a in cfg.agents.list if a.sandbox is not None}


def sandbox_needed(cfg: RustyClawConfig) -> bool:
    """Whether any agent runs commands in the sandbox (the shared mode or an agent's own)."""
    return cfg.sandbox.mode != "off" or any(m != "off" for m in agent_sandbox_modes(cfg).values())


def _mode_of(cfg: RustyClawConfig) -> Callable[[str], str]:
    own, shared = agent_sandbox_modes(cfg), cfg.sandbox.mode
    return lambda agent_id: own.get(agent_id, shared)


def make_policy(cfg: RustyClawConfig) -> ConfiguredPolicy:
    gate = exec_gate(cfg.sandbox.mode, cfg.sessions.main_key, cfg.tools.exec.host, agent_sandbox_modes(cfg))
    return ConfiguredPolicy(policy_settings(cfg), gate)


def workspace_resolver(cfg: RustyClawConfig, workspace_root: Path) -> Callable[[str], Path]:
    """An agent's folder: its own `workspace`, else `<root>/<agentId>` (the default agent: `<root>`
    unless that subfolder exists, as FolderWorkspace reads it)."""
    own = {a.id: Path(a.workspace).expanduser() for a in cfg.agents.list if a.workspace is not None}
    root = workspace_root.expanduser()
    default = cfg.agents.default_agent

    def workspace_of(agent_id: str) -> Path:
        if agent_id in own:
            return own[agent_id]
        folder = root / agent_id
        return root if agent_id == default and not folder.is_dir() else folder

    return workspace_of


def build_tools(
    cfg: RustyClawConfig,
    *,
    store: SessionStore,
    sessions_service: SessionService,
    workspace_root: Path,
    sandbox: Sandbox | None,
    channels_send: ChannelSend | None,
    audit: AuditSink | None,
    clock: Callable[[], float] = time.time,
    resolver: Resolver | None = None,
    media: ReplyMedia | None = None,
) -> ToolSetup:
    """The built-in tools for `cfg`, the policy that governs them and an audited registry of both.

    `sandbox` is None when no sandbox adapter is wired (then sandboxed sessions' exec refuses);
    `channels_send` None leaves out the `message` tool. `store` is the sessions' store (kept for
    tools that may need it directly; sessions go through `sessions_service`). `media` carries the
    browser's screenshots to the turn's reply (the gateway takes them; None: a fresh one).
    """
    del store  # sessions tools go through the SessionService, which shares its history cache
    workspace_of = workspace_resolver(cfg, workspace_root)
    media = media or ReplyMedia()
    fetch = cfg.tools.web.fetch
    specs: dict[str, SandboxSpec] = {}
    own_sandboxes = agent_sandboxes(cfg)  # agents.list[].sandbox: image, network, workspaceAccess, scope

    def spec_for(agent_id: str) -> SandboxSpec:
        if agent_id not in specs:
            from rustyclaw.adapters.sandbox.settings import spec_from_config

            specs[agent_id] = spec_from_config(own_sandboxes.get(agent_id, cfg.sandbox), workspace_of(agent_id))
        return specs[agent_id]

    tools: list[Tool] = [
        ReadTool(workspace_of),
        WriteTool(workspace_of),
        EditTool(workspace_of),
        ApplyPatchTool(workspace_of),
        ExecTool(
            sandbox=sandbox, spec_for=spec_for, mode=cfg.sandbox.mode, scope=cfg.sandbox.scope,
            main_key=cfg.sessions.main_key, host_allowed=cfg.tools.exec.host, workspace_of=workspace_of,
            host_timeout=cfg.sandbox.docker.timeout_seconds, max_output_bytes=cfg.sandbox.docker.max_output_bytes,
            mode_of=_mode_of(cfg),
            scope_of=lambda agent_id: own_sandboxes.get(agent_id, cfg.sandbox).scope,
        ),
        WebFetchTool(
            Guard(allow_private=fetch.allow_private_network, resolver=resolver),
            max_bytes=fetch.max_bytes, timeout=fetch.timeout_seconds,
        ),
        WebSearchTool(cfg.tools.web.search.base_url),
        SessionsListTool(sessions_service),
        SessionsHistoryTool(sessions_service),
    ]
    turns = SessionTurns()
    spawn = SessionsSpawnTool(turns, spawn_limits(cfg), agent_ids(cfg))
    tools += [SessionsSendTool(sessions_service.store.get_session, turns), spawn]
    if channels_send is not None:
        tools.append(MessageTool(channels_send))
    if cfg.browser.enabled:  # Chromium starts with the first browser action, not here
        tools.append(browser_tool(cfg.browser, workspace_of, media, resolver))
    policy = make_policy(cfg)
    policy.add_gate(spawn.parent_gate(policy.decide))  # a sub-agent never exceeds its parent's tools
    registry = AuditedRegistry(tools, policy, audit=audit, clock=clock)
    return ToolSetup(tools, policy, registry, turns, media)


def browser_tool(section: BrowserConfig, workspace_of: Callable[[str], Path], media: ReplyMedia | None,
                 resolver: Resolver | None = None) -> BrowserTool:
    from rustyclaw.adapters.tools.browser import BrowserTool
    from rustyclaw.adapters.tools.browser_pool import BrowserPool, BrowserSettings

    settings = BrowserSettings(
        executable_path=section.executable_path, headless=section.headless, no_sandbox=section.no_sandbox,
        action_timeout_seconds=section.action_timeout_seconds, idle_seconds=section.idle_seconds,
        snapshot_max_chars=section.snapshot_max_chars, max_tabs=section.max_tabs,
        viewport=(section.viewport_width, section.viewport_height),
        container=browser_container_settings(section) if section.sandbox.enabled else None,
        evaluate_enabled=section.evaluate_enabled, evaluate_max_chars=section.evaluate_max_chars,
    )
    guard = Guard(allow_private=section.allow_private_network, resolver=resolver)
    return BrowserTool(BrowserPool(settings, guard, workspace_of), media, scope=section.scope)


def browser_container_settings(section: BrowserConfig) -> ContainerSettings:
    from rustyclaw.adapters.tools.browser_container import ContainerSettings

    box = section.sandbox
    return ContainerSettings(image=box.image, memory=box.memory, pids_limit=box.pids_limit,
                             start_timeout_seconds=box.auto_start_timeout_ms / 1000, base_url=box.base_url)


def spawn_limits(cfg: RustyClawConfig) -> SpawnLimits:
    sub = cfg.agents.subagents
    return SpawnLimits(
        max_depth=sub.max_spawn_depth, max_children=sub.max_children_per_agent,
        run_timeout_seconds=sub.run_timeout_seconds, max_tokens=sub.max_tokens,
        max_total_tokens=sub.max_total_tokens,
        allow_agents={a.id: tuple(a.subagents.allow_agents) if a.subagents and a.subagents.allow_agents is not None
                      else None for a in cfg.agents.list},
    )
