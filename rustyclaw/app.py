"""The composition root: the one place that names concrete adapters and wires them into the core."""

from __future__ import annotations

import logging
import signal
from pathlib import Path
from typing import Any, cast

import anyio

from rustyclaw.adapters.audit.jsonl import JsonlAuditLog
from rustyclaw.adapters.channels.supervisor import ChannelSupervisor
from rustyclaw.adapters.clock import SystemClock
from rustyclaw.adapters.http.app import create_app
from rustyclaw.adapters.http.mounts import with_mounts
from rustyclaw.adapters.http.server import HttpServer
from rustyclaw.adapters.http.settings import HttpSettings
from rustyclaw.adapters.http.voice_api import VOICE_PATH, voice_app
from rustyclaw.adapters.storage.factory import open_store
from rustyclaw.adapters.tokenizer import make_tokenizer
from rustyclaw.adapters.tools.message import ChannelSend
from rustyclaw.adapters.workspace.files import FolderWorkspace
from rustyclaw.channels_setup import ChannelSetup
from rustyclaw.domain.agent import AgentRunner
from rustyclaw.domain.builtin_tools import SessionStatusTool
from rustyclaw.domain.context import ContextBuilder
from rustyclaw.domain.dispatch import ChannelDispatcher
from rustyclaw.domain.gateway import AccessGate, Gateway
from rustyclaw.domain.prompt import PromptBuilder
from rustyclaw.domain.sessions import SessionService
from rustyclaw.model_setup import ModelSetup
from rustyclaw.plugins_setup import PluginSetup, TextFetcher, fetch_through, send_through
from rustyclaw.ports.llm import LLMClient
from rustyclaw.ports.sandbox import Sandbox
from rustyclaw.ports.storage import SessionStore
from rustyclaw.settings_map import agent_settings, secret_value, session_settings
from rustyclaw.tools_setup import ToolSetup, build_tools
from rustyclaw.voice_setup import build_voice

log = logging.getLogger("rustyclaw.app")


class Core:
    """The gateway service and what it stands on, without any driving adapter (CLI chat uses it)."""

    def __init__(
        self, cfg: Any, *, llm: LLMClient | None = None, store: SessionStore | None = None,
        access: AccessGate | None = None, channels_send: ChannelSend | None = None,
    ) -> None:
        self.cfg = cfg
        self.access = access
        self._channels_send = channels_send
        self.tool_setup: ToolSetup | None = None
        self.sandbox: Sandbox | None = None
        self.voice = build_voice(cfg.voice)  # None when voice is off; models load on first use
        self.plugins: PluginSetup | None = None
        self.clock = SystemClock()
        self.state_dir = Path(cfg.gateway.state_dir).expanduser()
        self.store = store or open_store(cfg.storage, self.state_dir)
        self.models = ModelSetup(cfg)
        self._llm_override = llm
        self.llm: LLMClient | None = llm
        self.gateway: Gateway | None = None
        self._started_store = False

    async def start(self) -> Gateway:
        await self.store.start()
        self._started_store = True
        if self.llm is None:
            self.llm = await self.models.build()
        await self.llm.start()
        if self.voice is not None:
            await self.voice.start()
        self.gateway = self._wire(self.llm)
        assert self.plugins is not None
        await self.plugins.start(self.gateway, self.llm)
        return self.gateway

    def _wire(self, llm: LLMClient) -> Gateway:
        cfg = self.cfg
        agents = agent_settings(cfg)
        sessions = SessionService(self.store, self.clock, session_settings(cfg), locks=self.store)
        if cfg.sandbox.mode != "off":
            from rustyclaw.adapters.sandbox.settings import sandbox_from_config

            self.sandbox = sandbox_from_config(cfg.sandbox)  # no I/O until the first exec
        self.tool_setup = build_tools(
            cfg, store=self.store, sessions_service=sessions, workspace_root=Path(cfg.agents.workspace),
            sandbox=self.sandbox, channels_send=self._channels_send,
            audit=JsonlAuditLog.in_state_dir(self.state_dir),
        )
        tools = self.tool_setup.registry
        web_fetch = next((t for t in self.tool_setup.tools if t.spec.name == "web_fetch"), None)
        self.plugins = PluginSetup(
            cfg, self.state_dir, self.clock,
            send=send_through(self._channels_send) if self._channels_send else None,
            fetch=fetch_through(cast(TextFetcher, web_fetch)) if web_fetch is not None else None,
        )

        def model_of(entry: Any) -> str:
            return str(entry.model or agents.agent_models.get(entry.agent_id) or llm.model_for("default"))

        tools.register(SessionStatusTool(self.store, model_of))
        context = ContextBuilder(make_tokenizer("auto"), agents.pruning)
        runner = AgentRunner(
            llm, tools, context, self.clock,
            context_tokens=agents.context_tokens,
            max_completion_tokens=agents.max_completion_tokens,
            max_iterations=agents.max_tool_iterations,
            temperature=agents.temperature,
        )
        workspace = FolderWorkspace(Path(cfg.agents.workspace), agents.default_agent)
        prompts = PromptBuilder(
            workspace, base_prompt=agents.system_prompt,
            per_file_chars=agents.bootstrap_max_chars, total_chars=agents.bootstrap_total_max_chars,
        )
        return Gateway(sessions, runner, prompts, llm, self.clock, agents, self.access,
                       elevation=self.tool_setup.policy, voice=self.voice, hooks=self.plugins.hooks)

    async def run_background(self) -> None:
        """Long-running chores of the core: the embedded model's start, idle sandbox pruning."""
        async with anyio.create_task_group() as tg:
            tg.start_soon(self.models.run_embedded)
            if self.plugins is not None:
                tg.start_soon(self.plugins.run_scheduler)
            if self.sandbox is not None:
                from rustyclaw.adapters.sandbox.idle import prune_idle_forever

                tg.start_soon(prune_idle_forever, self.sandbox, self.cfg.sandbox.prune_idle_hours * 3600)

    async def aclose(self) -> None:
        with anyio.CancelScope(shield=True):
            if self.plugins is not None:
                await self.plugins.aclose()
            if self.voice is not None:
                await self.voice.aclose()
            if self.tool_setup is not None:
                await self.tool_setup.aclose()
            if self.sandbox is not None:
                await self.sandbox.aclose()
            if self._llm_override is None:
                await self.models.aclose()
            if self._started_store:
                await self.store.aclose()


class Application:
    """`rustyclaw serve`: the core, the HTTP surface and the channels in one event loop."""

    def __init__(
        self, cfg: Any, *, host: str | None = None, port: int | None = None,
        llm: LLMClient | None = None, store: SessionStore | None = None,
    ) -> None:
        self.cfg = cfg
        state_dir = Path(cfg.gateway.state_dir).expanduser()
        self.channel_setup = ChannelSetup(cfg, state_dir, SystemClock())
        self.core = Core(cfg, llm=llm, store=store, access=self.channel_setup.access,
                         channels_send=self.channel_setup.send)
        self.supervisor: ChannelSupervisor | None = None
        self.host = host or cfg.gateway.host
        self.port = cfg.gateway.port if port is None else port
        self.token = secret_value(cfg.gateway.auth.token)
        self.http: HttpServer | None = None
        self.listening = anyio.Event()
        self._stop = anyio.Event()

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        """Serves until `stop()` or SIGINT/SIGTERM; everything is closed on the way out."""
        cfg = self.cfg
        # Refuses a tokenless public bind before anything starts.
        http_settings = HttpSettings(
            token=self.token,
            openai_enabled=cfg.gateway.openai_endpoint.enabled,
            max_message_chars=cfg.gateway.max_message_chars,
            agent_ids=agent_settings(cfg).agent_ids,
            default_agent=cfg.agents.default_agent,
        )
        try:
            gateway = await self.core.start()
            mounts = {**self.channel_setup.mounts, VOICE_PATH: voice_app(gateway, http_settings)}
            app = with_mounts(create_app(gateway, http_settings), mounts)
            self.http = HttpServer(app, self.host, self.port, self.token)
            self.supervisor = ChannelSupervisor(
                self.channel_setup.channels, lambda channel: ChannelDispatcher(gateway, channel)
            )
            async with anyio.create_task_group() as tg, self.supervisor:
                tg.start_soon(self._watch_signals)
                tg.start_soon(self.core.run_background)
                tg.start_soon(self.http.serve, self._on_listening)
                await self._stop.wait()
                tg.cancel_scope.cancel()
        finally:
            if self.http is not None:
                with anyio.CancelScope(shield=True):
                    await self.http.aclose()
            await self.core.aclose()

    def _on_listening(self) -> None:
        assert self.core.gateway is not None and self.http is not None
        self.core.gateway.mark_ready()
        log.info("rustyclaw ready on %s", self.http.url)
        if self.core.models.notice:
            log.warning(self.core.models.notice)
        self.listening.set()

    async def _watch_signals(self) -> None:
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for signum in signals:
                log.info("received %s; shutting down", signal.Signals(signum).name)
                self._stop.set()
                return
