"""The whole configuration: `RustyClawConfig` and the small sections that live with it.

Larger sections have their own modules (llm, channels, tools, sandbox, voice); every model is
re-exported here so callers import from one place.
"""

from __future__ import annotations

import builtins
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator

from rustyclaw.config.base import (
    HOME_TOKEN,
    DsnValue,
    Identifier,
    LogLevel,
    PathValue,
    ProblemsError,
    SecretStrValue,
    Section,
    matching,
    section,
)
from rustyclaw.config.bindings import BindingConfig
from rustyclaw.config.browser import BrowserConfig
from rustyclaw.config.channels import (
    ChannelAccessConfig,
    ChannelsConfig,
    DiscordConfig,
    GroupConfig,
    RateLimitConfig,
    TelegramConfig,
    WebChannelConfig,
    WhatsAppConfig,
)
from rustyclaw.config.compaction import CompactionConfig, MemoryConfig
from rustyclaw.config.cron_delivery import CronDeliveryConfig
from rustyclaw.config.delivery import DeliveryConfig
from rustyclaw.config.llm import (
    AgentTask,
    EmbeddedModelConfig,
    LLMConfig,
    ProviderConfig,
    RetryConfig,
    RouteConfig,
    route_problems,
)
from rustyclaw.config.mcp import McpConfig, McpServerConfig
from rustyclaw.config.replicas import ReplicasConfig
from rustyclaw.config.sandbox import AgentSandboxConfig, DockerConfig, SandboxConfig
from rustyclaw.config.skills import SkillsConfig
from rustyclaw.config.subagents import AgentSubagentsConfig, SubagentsConfig
from rustyclaw.config.tools import (
    ElevatedConfig,
    ExecConfig,
    ToolPolicyConfig,
    ToolsConfig,
    WebFetchConfig,
    WebSearchConfig,
    WebToolsConfig,
)
from rustyclaw.config.voice import SpeechToTextConfig, TextToSpeechConfig, VoiceConfig

__all__ = [
    "AgentConfig",
    "AgentsConfig",
    "AuthConfig",
    "BindingConfig",
    "BrowserConfig",
    "ChannelAccessConfig",
    "ChannelsConfig",
    "CronConfig",
    "CronJobConfig",
    "CronRetryConfig",
    "CronScheduleConfig",
    "DiscordConfig",
    "DockerConfig",
    "ElevatedConfig",
    "EmbeddedModelConfig",
    "ExecConfig",
    "GatewayConfig",
    "GroupConfig",
    "JsonStorageConfig",
    "LLMConfig",
    "McpConfig",
    "McpServerConfig",
    "OpenAIEndpointConfig",
    "PluginsConfig",
    "PostgresStorageConfig",
    "ProviderConfig",
    "PruningConfig",
    "RateLimitConfig",
    "ReplicasConfig",
    "ResetConfig",
    "RetryConfig",
    "RouteConfig",
    "RustyClawConfig",
    "SandboxConfig",
    "SessionsConfig",
    "SkillsConfig",
    "SpeechToTextConfig",
    "SqliteStorageConfig",
    "StorageConfig",
    "TelegramConfig",
    "TextToSpeechConfig",
    "ToolPolicyConfig",
    "ToolsConfig",
    "VoiceConfig",
    "WebChannelConfig",
    "WebFetchConfig",
    "WebSearchConfig",
    "WebToolsConfig",
    "WhatsAppConfig",
]  # fmt: skip

Interval = Annotated[str, matching(r"^\d+[smhd]$", "should be a number and a unit: s, m, h or d (e.g. 30m)")]

_LOOPBACK = ("127.", "::1", "localhost")


# OpenClaw's security audit flags a gateway token under 24 characters (gateway.token_too_short);
# here it is refused, since the token is all that guards an exposed gateway.
MIN_TOKEN_CHARS = 24


class AuthConfig(Section):
    """Bearer token for the HTTP API and the web chat; needed when binding beyond loopback."""

    token: SecretStrValue | None = None

    @field_validator("token")
    @classmethod
    def _strong_enough(cls, value: str | None) -> str | None:
        # The message never includes the value (it is a secret). Empty means unset (`${TOKEN:-}`).
        if value == "":
            return None
        if value is not None and (not value.strip() or value != value.strip()):
            raise ValueError("must not be blank or start or end with whitespace")
        if value is not None and len(value) < MIN_TOKEN_CHARS:
            raise ValueError(
                f"is {len(value)} characters; use at least {MIN_TOKEN_CHARS} "
                "(e.g. `openssl rand -hex 24`)"
            )
        return value


class OpenAIEndpointConfig(Section):
    """`POST /v1/chat/completions` on the gateway's port."""

    enabled: bool = True


class GatewayConfig(Section):
    """The gateway process: address, limits, state folder and logging."""

    host: str = "127.0.0.1"
    port: int = Field(18789, ge=0, le=65535)
    auth: AuthConfig = section()
    openai_endpoint: OpenAIEndpointConfig = section()
    max_message_chars: int = Field(16_000, ge=1)
    state_dir: PathValue = Field(Path(HOME_TOKEN))
    log_level: LogLevel = "info"
    log_format: Literal["json", "text"] = "text"
    # None: the machine's local time zone.
    timezone: str | None = None
    request_timeout_seconds: float = Field(300.0, gt=0)
    replicas: ReplicasConfig = section()

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError) as exc:
                raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Europe/Berlin)") from exc
        return value

    @model_validator(mode="after")
    def _auth_beyond_loopback(self) -> GatewayConfig:
        if not self.host.startswith(_LOOPBACK) and not self.auth.token:
            raise ProblemsError([("host", f"binding to {self.host!r} (beyond loopback) needs gateway.auth.token")])
        return self


class AgentConfig(Section):
    """One agent in `agents.list`; unset fields fall back to the shared settings."""

    id: Identifier
    workspace: PathValue | None = None
    model: str | None = None
    tools: ToolPolicyConfig | None = None
    # MCP servers (names in mcp.servers) and skills this agent gets; None: all of them.
    mcp: builtins.list[str] | None = None
    skills: builtins.list[str] | None = None
    subagents: AgentSubagentsConfig | None = None
    # OpenClaw's agents.list[].sandbox: this agent's own sandbox.mode (None: the shared one).
    sandbox: AgentSandboxConfig | None = None
    # This agent's own route per task (primary and fallbacks), ahead of llm.routes and its `model`.
    routes: dict[AgentTask, RouteConfig] = Field(default_factory=dict)


class AgentsConfig(Section):
    """Agents, their workspace files and the turn loop's limits."""

    default_agent: Identifier = "main"
    workspace: PathValue = Field(Path(HOME_TOKEN) / "workspace")
    bootstrap_max_chars: int = Field(20_000, ge=0)
    bootstrap_total_max_chars: int = Field(150_000, ge=0)
    max_tool_iterations: int = Field(8, ge=0)
    # None: the built-in system prompt.
    system_prompt: str | None = None
    # `list` is OpenClaw's key; the annotation names the builtin because the field shadows it here.
    # OpenClaw's agents.defaults.compaction (config/compaction.py).
    compaction: CompactionConfig = section()
    subagents: SubagentsConfig = section()
    list: builtins.list[AgentConfig] = Field(default_factory=lambda: [])

    @model_validator(mode="after")
    def _unique_ids(self) -> AgentsConfig:
        seen: set[str] = set()
        problems = []
        for i, agent in enumerate(self.list):
            if agent.id in seen:
                problems.append((f"list.{i}.id", f"agent id {agent.id!r} appears twice"))
            seen.add(agent.id)
        if problems:
            raise ProblemsError(problems)
        return self


class ResetConfig(Section):
    """When a session starts afresh: daily at `at_hour`, or after `idle_minutes` of silence."""

    mode: Literal["daily", "idle"] = "daily"
    at_hour: int = Field(4, ge=0, le=23)
    idle_minutes: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _idle_needs_minutes(self) -> ResetConfig:
        if self.mode == "idle" and self.idle_minutes is None:
            raise ProblemsError([("idleMinutes", 'mode "idle" needs idleMinutes')])
        return self


class PruningConfig(Section):
    """In-memory pruning of old tool results before a request (the transcript keeps everything)."""

    keep_last_assistants: int = Field(3, ge=0)
    soft_trim_max_chars: int = Field(4000, ge=0)
    soft_trim_head_chars: int = Field(1500, ge=0)
    soft_trim_tail_chars: int = Field(1500, ge=0)


class SessionsConfig(Section):
    """OpenClaw's session scoping and reset rules."""

    scope: Literal["per-sender", "global"] = "per-sender"
    dm_scope: Literal["main", "per-peer", "per-channel-peer", "per-account-channel-peer"] = "main"
    main_key: str = "main"
    reset: ResetConfig = section()
    reset_by_type: dict[Literal["direct", "group", "thread"], ResetConfig] = Field(default_factory=dict)
    reset_by_channel: dict[str, ResetConfig] = Field(default_factory=dict)
    reset_triggers: list[str] = Field(default_factory=lambda: ["/new", "/reset"])
    pruning: PruningConfig = section()

    @field_validator("reset_by_type", mode="before")
    @classmethod
    def _dm_is_direct(cls, value: Any) -> Any:
        # OpenClaw accepts `dm`, its older name for `direct` (docs/concepts/session.md).
        if isinstance(value, dict) and "dm" in value:
            if "direct" in value:
                raise ValueError("set either 'dm' or 'direct' (the same chat type), not both")
            value = {("direct" if k == "dm" else k): v for k, v in value.items()}
        return value


class PluginsConfig(Section):
    """Plugin folders, which plugins are on, and each plugin's own (free-form) settings."""

    dirs: list[PathValue] = Field(default_factory=lambda: [Path(HOME_TOKEN) / "plugins"])
    # A plugin found in `dirs` and not named here is enabled; `name: false` turns it off.
    enabled: dict[str, bool] = Field(default_factory=dict)
    config: dict[str, dict[str, Any]] = Field(default_factory=dict)
    # Caps for every plugin; a manifest's `limits` may ask for less, never more.
    memory_limit_mb: int = Field(32, ge=1, le=4096)
    fuel_per_call: int = Field(100_000_000, ge=1000)
    timeout_seconds: float = Field(10.0, gt=0)


class SqliteStorageConfig(Section):
    """SQLite file (WAL); None means <stateDir>/rustyclaw.db, filled in by RustyClawConfig."""

    path: PathValue | None = None


class JsonStorageConfig(Section):
    """OpenClaw's classic JSON layout under `dir`; None means <stateDir>, filled in by RustyClawConfig."""

    dir: PathValue | None = None
    fsync: Literal["always", "batch", "never"] = "batch"


class PostgresStorageConfig(Section):
    """PostgreSQL through a psycopg pool; the DSN's password is a secret."""

    dsn: DsnValue = "postgresql://127.0.0.1:5432/rustyclaw"
    min_size: int = Field(1, ge=0)
    max_size: int = Field(10, ge=1)


class StorageConfig(Section):
    """Where sessions and transcripts live."""

    backend: Literal["sqlite", "json", "postgres"] = "sqlite"
    sqlite: SqliteStorageConfig = section()
    # `json` would shadow BaseModel.json, hence the attribute name.
    json_store: JsonStorageConfig = section(alias="json")
    postgres: PostgresStorageConfig = section()


class CronScheduleConfig(Section):
    """Exactly one of: a cron expression, an interval such as `30m`, or one ISO date-time."""

    cron: str | None = None
    every: Interval | None = None
    at: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> CronScheduleConfig:
        given = [k for k in ("cron", "every", "at") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ProblemsError([("", f"set exactly one of cron, every, at (got {', '.join(given) or 'none'})")])
        if self.at is not None:
            try:
                datetime.fromisoformat(self.at)
            except ValueError as exc:
                raise ProblemsError([("at", f"{self.at!r} is not an ISO date-time")]) from exc
        if self.cron is not None and len(self.cron.split()) not in (5, 6):
            raise ProblemsError([("cron", f"{self.cron!r} should have 5 fields (minute hour day month weekday)")])
        return self


class CronRetryConfig(Section):
    """A failed job runs again after `backoffSeconds`, doubling each time, up to `maxRetries` times."""

    max_retries: int = Field(2, ge=0, le=100)
    backoff_seconds: float = Field(60.0, gt=0)


class CronJobConfig(Section):
    """A message sent to an agent on a schedule, in its own `cron:<id>` session."""

    id: Identifier
    schedule: CronScheduleConfig
    message: str = Field(min_length=1)
    # None: agents.defaultAgent.
    agent: str | None = None
    enabled: bool = True
    retry: CronRetryConfig = section()
    # None: no limit (a turn has the gateway's own limits).
    timeout_seconds: float | None = Field(None, gt=0)
    # Where the answer goes (config/cron_delivery.py); None: it stays in the job's session.
    delivery: CronDeliveryConfig | None = None


class CronConfig(Section):
    """Scheduled jobs."""

    jobs: list[CronJobConfig] = Field(default_factory=lambda: [])
    # A job whose time passed while the gateway was down runs once at start (never once per miss).
    run_missed_on_start: bool = True


class RustyClawConfig(Section):
    """The whole configuration; every field has a default, so `RustyClawConfig()` is a working setup."""

    gateway: GatewayConfig = section()
    agents: AgentsConfig = section()
    bindings: list[BindingConfig] = Field(default_factory=lambda: [])
    llm: LLMConfig = section()
    sessions: SessionsConfig = section()
    tools: ToolsConfig = section()
    sandbox: SandboxConfig = section()
    browser: BrowserConfig = section()
    voice: VoiceConfig = section()
    channels: ChannelsConfig = section()
    delivery: DeliveryConfig = section()
    plugins: PluginsConfig = section()
    storage: StorageConfig = section()
    cron: CronConfig = section()
    mcp: McpConfig = section()
    skills: SkillsConfig = section()
    memory: MemoryConfig = section()

    @model_validator(mode="after")
    def _agent_routes_name_known_providers(self) -> RustyClawConfig:
        names = self.llm.provider_names()
        problems = [problem for i, agent in enumerate(self.agents.list)
                    for problem in route_problems(f"agents.list.{i}.routes", agent.routes.items(), names)]
        if problems:
            raise ProblemsError(problems)
        return self

    @model_validator(mode="after")
    def _fill_state_paths(self) -> RustyClawConfig:
        state = self.gateway.state_dir
        # Completes the (frozen) sections while they are still being built, during validation.
        if self.storage.sqlite.path is None:
            object.__setattr__(self.storage.sqlite, "path", state / "rustyclaw.db")
        if self.storage.json_store.dir is None:
            object.__setattr__(self.storage.json_store, "dir", state)
        return self

    @model_validator(mode="after")
    def _replicas_share_postgres(self) -> RustyClawConfig:
        # Replicas share sessions, turn locks and the leader lease through the database; SQLite or
        # JSON files in each replica's own state folder would split every session between them.
        if self.gateway.replicas.enabled and self.storage.backend != "postgres":
            raise ProblemsError([(
                "gateway.replicas.enabled",
                f"replicas need storage.backend: postgres (got {self.storage.backend!r})",
            )])
        if self.gateway.replicas.enabled and not self.delivery.journal:
            # The journal's rows in PostgreSQL are the replicas' shared record of inbound ids: without
            # it a webhook delivered to two replicas (a platform's retry) would be answered twice.
            raise ProblemsError([(
                "delivery.journal",
                "replicas need the inbound journal (it is where they share the ids of messages already taken)",
            )])
        return self
