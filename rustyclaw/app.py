"""The composition root: the one place that names concrete adapters and wires them into the core.

Every command gets its core from `bootstrap()` (cosmicpython's model) and runs it through one
lifecycle (rustyclaw/lifecycle.py): components start in the order added, stop in reverse, always.

    settings = load_settings(path)                   # rustyclaw/settings.py: read and checked once
    async with bootstrap(settings, "core") as root:  # "store" | "core" | "serve"
        reply = await root.gateway.handle(message)

What each purpose starts, in order (a component that fails stops the ones before it and the
command exits naming it):
- "store": the store alone (`sessions`, `storage copy`, `storage import-openclaw`);
- "core" (chat, mcp serve): store, model, voice, gateway (tools, sandbox, prompts), memory (its
  index), mcp, plugins, and the background services (embedded model start, sandbox pruning);
- "serve": the instance lock first, then the core with cron, then the channels and the HTTP server.

Adding a component is one `self.life.step(name, start, stop)` (or `.service`/`.context`) line in
`Root._add_core` (or `Serving.add_serving` in rustyclaw/serving.py), after what it needs has started.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Literal, cast

import anyio

from rustyclaw.adapters.clock import SystemClock
from rustyclaw.adapters.storage.factory import open_shared_state, open_store
from rustyclaw.adapters.tokenizer import make_tokenizer
from rustyclaw.adapters.workspace.files import FolderWorkspace
from rustyclaw.channels_setup import ChannelSetup
from rustyclaw.domain.agent import AgentRunner
from rustyclaw.domain.builtin_tools import SessionStatusTool
from rustyclaw.domain.context import ContextBuilder
from rustyclaw.domain.gateway import AccessGate, Gateway
from rustyclaw.domain.messages import SessionEntry
from rustyclaw.domain.prompt import PromptBuilder
from rustyclaw.domain.sessions import SessionService
from rustyclaw.lifecycle import Lifecycle, Ready
from rustyclaw.mcp_setup import McpSetup
from rustyclaw.memory_setup import MemorySetup, compaction_settings, memory_settings, window_probe
from rustyclaw.model_setup import EMBEDDED_PROVIDER, ModelSetup
from rustyclaw.plugins_setup import PluginSetup, TextFetcher, fetch_through, send_through
from rustyclaw.ports.llm import LLMClient
from rustyclaw.ports.sandbox import Sandbox
from rustyclaw.ports.storage import StorageBackend
from rustyclaw.settings import Settings
from rustyclaw.skills_setup import SkillsSetup
from rustyclaw.tools_setup import ToolSetup, build_tools, sandbox_needed, workspace_resolver
from rustyclaw.voice_setup import build_voice

if TYPE_CHECKING:
    from rustyclaw.serving import Serving

log = logging.getLogger("rustyclaw.app")

Purpose = Literal["store", "core", "serve"]


class Root:
    """One command's components, built by `bootstrap()` (no I/O) and run by `async with`."""

    def __init__(
        self, settings: Settings, purpose: Purpose, *, llm: LLMClient | None = None,
        store: StorageBackend | None = None, host: str | None = None, port: int | None = None,
        backend: str | None = None,
    ) -> None:
        cfg = settings.config
        self.settings = settings
        self.purpose: Purpose = purpose
        self.life = Lifecycle()
        self.clock = SystemClock()
        self.state_dir = settings.state_dir
        self.store: StorageBackend = store or open_store(cfg.storage, self.state_dir, backend)
        # Pairing, rate limits, audit, cron state, plugin storage: in PostgreSQL with that backend
        # (replicas share them), else in the state folder and memory (adapters/storage/shared_state.py).
        self.shared = open_shared_state(cfg.storage, self.state_dir, self.clock)
        self.models = ModelSetup(cfg)
        self.llm: LLMClient | None = llm
        self._llm_given = llm is not None
        self.voice = build_voice(cfg.voice) if purpose != "store" else None  # models load on first use
        self.channels: ChannelSetup | None = None
        self.tool_setup: ToolSetup | None = None
        self.sandbox: Sandbox | None = None
        self.plugins: PluginSetup | None = None
        self.memory: MemorySetup | None = None
        # MCP servers' tools and skills (nothing is imported or started without mcp.servers / skills).
        self.mcp = McpSetup(cfg, self.state_dir)
        self.skills = SkillsSetup(cfg, self.state_dir, workspace_resolver(cfg, Path(cfg.agents.workspace)))
        self._gateway: Gateway | None = None
        self.host = host or cfg.gateway.host
        self.port = cfg.gateway.port if port is None else port
        self.serving: Serving | None = None
        if purpose == "serve":
            from rustyclaw.serving import Serving

            self.channels = ChannelSetup(settings, self.clock, pairing_store=self.shared.pairing,
                                         rates=self.shared.rates)
            self.serving = Serving(self)
            self.serving.add_instance_lock()
        self.life.step("store", self.store.start, self.store.aclose)
        if purpose != "store":
            self.life.step("shared-state", self.shared.start, self.shared.aclose)
            self._add_core()
        if self.serving is not None:
            self.serving.add_serving()

    # -- the lifecycle ------------------------------------------------------------------------------
    async def __aenter__(self) -> Root:
        await self.life.__aenter__()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.life.__aexit__(exc_type, exc, tb)

    def stop(self) -> None:
        self.life.stop()

    async def run_until_stopped(self) -> None:
        """Serves until `stop()`, SIGINT or SIGTERM, or a service failing (then raises its error)."""
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._watch_signals)
            try:
                await self.life.wait_stopped()
            finally:
                tg.cancel_scope.cancel()

    async def _watch_signals(self) -> None:
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for signum in signals:
                log.info("received %s; shutting down", signal.Signals(signum).name)
                self.stop()
                return

    @property
    def gateway(self) -> Gateway:
        if self._gateway is None:
            raise RuntimeError("the gateway exists once the lifecycle has started it (async with root)")
        return self._gateway

    # -- the core -----------------------------------------------------------------------------------
    def _add_core(self) -> None:
        life = self.life
        life.step("model", self._start_model, self._stop_model)
        if self.voice is not None:
            life.step("voice", self.voice.start, self.voice.aclose)
        life.step("gateway", self._start_gateway, self._stop_gateway)
        life.step("memory", self._start_memory, self._stop_memory)
        life.step("mcp", self.mcp.start, self.mcp.aclose)
        life.step("plugins", self._start_plugins, self._stop_plugins)
        life.service("embedded-model", _background(self.models.run_embedded))
        life.service("session-turns", self._run_session_turns)
        # Under gateway.replicas these run on the leader only (rustyclaw/leader.py); else as services.
        duty = self.serving.leader_service if self.serving is not None else life.service
        if self.purpose == "serve":
            # Cron runs in the one gateway that holds the state folder (a `chat` beside it must not
            # run the same jobs, or race it writing cron/jobs.json).
            duty("cron", self._run_cron)
        if sandbox_needed(self.settings.config):
            duty("sandbox-pruning", self._prune_sandbox)

    async def _start_model(self) -> None:
        if self.llm is None:
            self.llm = await self.models.build()
        await self.llm.start()

    async def _stop_model(self) -> None:
        if not self._llm_given:
            await self.models.aclose()

    async def _start_gateway(self) -> None:
        assert self.llm is not None
        self._gateway = self._wire(self.llm)

    async def _stop_gateway(self) -> None:
        if self.tool_setup is not None:
            await self.tool_setup.aclose()
        if self.sandbox is not None:
            await self.sandbox.aclose()

    async def _start_memory(self) -> None:
        assert self.memory is not None
        await self.memory.start()  # the memory index database; nothing is indexed until a search

    async def _stop_memory(self) -> None:
        if self.memory is not None:
            await self.memory.aclose()

    async def _start_plugins(self) -> None:
        assert self.plugins is not None
        await self.plugins.start(self.gateway, self.llm)

    async def _stop_plugins(self) -> None:
        if self.plugins is not None:
            await self.plugins.aclose()

    async def _run_cron(self, ready: Ready) -> None:
        assert self.plugins is not None
        ready()
        await self.plugins.run_scheduler()

    async def _run_session_turns(self, ready: Ready) -> None:
        # Turns started by sessions_send with timeoutSeconds 0, or still running after its wait.
        assert self.tool_setup is not None and self.tool_setup.turns is not None
        await self.tool_setup.turns.run_background(ready)

    async def _prune_sandbox(self, ready: Ready) -> None:
        from rustyclaw.adapters.sandbox.idle import prune_idle_forever

        assert self.sandbox is not None
        ready()
        await prune_idle_forever(self.sandbox, self.settings.config.sandbox.prune_idle_hours * 3600)

    def _wire(self, llm: LLMClient) -> Gateway:
        cfg = self.settings.config
        agents = self.settings.agents
        access: AccessGate | None = self.channels.access if self.channels is not None else None
        send = self.channels.send if self.channels is not None else None
        # Replicas append to one store: a cached transcript is topped up from it before each use.
        sessions = SessionService(self.store, self.clock, self.settings.sessions, locks=self.store,
                                  shared=cfg.gateway.replicas.enabled)
        if sandbox_needed(cfg):  # the shared sandbox.mode or an agent's own
            from rustyclaw.adapters.sandbox.settings import sandbox_from_config

            self.sandbox = sandbox_from_config(cfg.sandbox)  # no I/O until the first exec
        workspace_root = Path(cfg.agents.workspace)
        self.tool_setup = build_tools(
            cfg, store=self.store, sessions_service=sessions, workspace_root=workspace_root,
            sandbox=self.sandbox, channels_send=send, audit=self.shared.audit,
        )
        tools = self.tool_setup.registry
        tools.set_timeouts(cfg.tools.timeout_seconds, cfg.tools.timeouts)  # /stop ends a stuck call too
        web_fetch = next((t for t in self.tool_setup.tools if t.spec.name == "web_fetch"), None)
        self.plugins = PluginSetup(
            cfg, self.state_dir, self.clock,
            send=send_through(send) if send is not None else None,
            fetch=fetch_through(cast(TextFetcher, web_fetch)) if web_fetch is not None else None,
            schedule_store=self.shared.schedule, plugin_kv=self.shared.plugin_kv,
            run_log=self.shared.run_log, claims=self.shared.claims, added_jobs=self.shared.added_jobs,
        )

        def model_of(entry: SessionEntry) -> str:
            return str(entry.model or agents.agent_models.get(entry.agent_id) or llm.model_for("default"))

        tools.register(SessionStatusTool(self.store, model_of))
        self.mcp.attach(tools, self.tool_setup.policy)
        self.skills.wrap_read(tools, self.tool_setup.tools)
        context = ContextBuilder(make_tokenizer("auto"), agents.pruning)
        runner = AgentRunner(
            llm, tools, context, self.clock,
            context_tokens=agents.context_tokens,
            max_completion_tokens=agents.max_completion_tokens,
            max_iterations=agents.max_tool_iterations,
            temperature=agents.temperature,
        )
        # The prompt reads each agent's workspace files from the same folder its tools work in.
        workspace = FolderWorkspace(workspace_root, agents.default_agent,
                                    folder_of=workspace_resolver(cfg, workspace_root))
        main_key = self.settings.sessions.main_key
        prompts = self.skills.prompts(PromptBuilder(
            workspace, base_prompt=agents.system_prompt,
            per_file_chars=agents.bootstrap_max_chars, total_chars=agents.bootstrap_total_max_chars,
            memory_main_key=main_key,
        ))
        # Memory (MEMORY.md, memory/*.md, the FTS5 index, group:memory) and context maintenance
        # (the model's real window, compaction, the pre-compaction flush): rustyclaw/memory_setup.py.
        self.memory = MemorySetup(
            self.state_dir, workspace.folder, self.store, self.store, memory_settings(cfg.memory),
            compaction_settings(cfg.agents.compaction), main_key=main_key,
        )
        for memory_tool in self.memory.tools:
            tools.register(memory_tool)
        maintenance = self.memory.maintenance(
            sessions, llm, context, self.clock, runner,
            window_probe(cfg.llm, self.models.embedded, EMBEDDED_PROVIDER), agents.context_tokens,
        )
        gateway = Gateway(sessions, runner, prompts, llm, self.clock, agents, access,
                          elevation=self.tool_setup.policy, voice=self.voice, hooks=self.plugins.hooks,
                          loaded_models=None if self._llm_given else self.models.loaded_models,
                          maintenance=maintenance)
        if self.tool_setup.turns is not None:
            self.tool_setup.turns.bind(gateway)  # sessions_send / sessions_spawn start turns through it
        gateway.media = self.tool_setup.media  # the browser's screenshots go out with the turn's reply
        return gateway


def _background(run: Callable[[], Awaitable[None]]) -> Callable[[Ready], Awaitable[None]]:
    """A service that is ready at once and runs `run` in the background (e.g. a model loading)."""

    async def service(ready: Ready) -> None:
        ready()
        await run()

    return service


def bootstrap(
    settings: Settings, purpose: Purpose = "core", *, llm: LLMClient | None = None,
    store: StorageBackend | None = None, host: str | None = None, port: int | None = None,
    backend: str | None = None,
) -> Root:
    """The components of one command, not yet started (no I/O happens here); `async with` runs them.

    `llm` and `store` replace the configured model and store (tests, embedding); `backend` opens
    another configured backend than `storage.backend` (`storage copy`); `host` and `port` override
    `gateway.host`/`gateway.port` for "serve".
    """
    return Root(settings, purpose, llm=llm, store=store, host=host, port=port, backend=backend)
