"""Plain settings for the MCP client, mapped once from the `mcp` config section."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from rustyclaw.config.mcp import McpConfig, McpServerConfig

Transport = Literal["stdio", "streamable-http", "sse"]


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """One server; `command` for stdio, `url` for HTTP."""

    name: str
    transport: Transport
    command: str | None = None
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    url: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    enabled: bool = True
    lazy: bool = False
    request_timeout: float = 60.0
    connect_timeout: float = 30.0
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    max_result_chars: int = 20_000

    def launch(self) -> str:
        """What is started or reached, for status lines; never the env or header values."""
        if self.transport == "stdio":
            return " ".join([self.command or "", *self.args]).strip()
        return f"{self.transport} {_without_credentials(self.url or '')}"


@dataclass(frozen=True, slots=True)
class McpSettings:
    servers: tuple[ServerSettings, ...] = ()
    restart_backoff: float = 1.0
    restart_max: float = 60.0
    # How often an idle connection is pinged, so a crashed server is noticed and restarted.
    ping_interval: float = 10.0
    # Server stderr goes here (one file per server); None: the gateway's stderr.
    log_dir: Path | None = None
    # Each server's last tool listing, so a lazy server's tools are offered before it first starts.
    cache_dir: Path | None = None


def _without_credentials(url: str) -> str:
    head, sep, rest = url.partition("://")
    if not sep:
        return url
    host, slash, path = rest.partition("/")
    if "@" in host:
        host = "***@" + host.rsplit("@", 1)[1]
    return f"{head}://{host}{slash}{path.split('?', 1)[0]}"


def server_settings(name: str, cfg: McpServerConfig) -> ServerSettings:
    return ServerSettings(
        name=name, transport=cfg.kind, command=cfg.command, args=tuple(cfg.args),
        env={k: str(v) for k, v in cfg.env.items()}, cwd=cfg.folder, url=cfg.url,
        headers={k: str(v) for k, v in cfg.headers.items()}, enabled=cfg.enabled, lazy=cfg.lazy,
        request_timeout=cfg.request_timeout, connect_timeout=cfg.connect_timeout,
        include=tuple(cfg.tool_filter.include), exclude=tuple(cfg.tool_filter.exclude),
        max_result_chars=cfg.max_result_chars,
    )


def mcp_settings(cfg: McpConfig, state_dir: Path | None = None) -> McpSettings:
    return McpSettings(
        servers=tuple(server_settings(name, server) for name, server in sorted(cfg.servers.items())),
        restart_backoff=cfg.restart_backoff_seconds, restart_max=cfg.restart_max_seconds,
        log_dir=state_dir / "logs" if state_dir is not None else None,
        cache_dir=state_dir / "mcp" if state_dir is not None else None,
    )
