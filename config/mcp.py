"""The `mcp` section: MCP servers whose tools the agents may call (OpenClaw's `mcp.servers.<name>`).

A server is either a local process spoken to over stdio (`command`, `args`, `env`, `cwd`) or a
remote one over HTTP (`url`, `headers`; streamable HTTP unless `transport: sse`). OpenClaw's own
keys are accepted so a copied `mcp.servers` block works: `workingDirectory` for `cwd`,
`requestTimeoutMs` / `connectionTimeoutMs` beside RustyClaw's `timeoutSeconds` /
`connectTimeoutSeconds`, and `toolFilter.include` / `exclude`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from rustyclaw.config.base import PathValue, ProblemsError, SecretStrValue, Section, matching, section

ServerName = Annotated[
    str, matching(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", "should be letters, digits, '.', '-' or '_' (e.g. files)")
]

# Environment keys that change how an interpreter or the dynamic linker starts: refused in a
# server's `env` (OpenClaw's stdio env safety filter) so config cannot inject a prelude.
_UNSAFE_ENV = ("NODE_OPTIONS", "PYTHONSTARTUP", "PYTHONPATH", "PERL5OPT", "RUBYOPT", "BASHOPTS", "BASH_ENV",
               "ENV", "KSH_ENV")
_UNSAFE_ENV_PREFIXES = ("LD_", "DYLD_", "BASH_FUNC_")


class ToolFilterConfig(Section):
    """Which of a server's tools become agent tools: MCP tool names or `*` globs; exclude wins."""

    include: list[str] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list)


class McpServerConfig(Section):
    """One MCP server: stdio (`command`) or HTTP (`url`), never both."""

    enabled: bool = True
    transport: Literal["stdio", "streamable-http", "sse"] | None = None
    command: str | None = Field(None, min_length=1)
    args: list[str] = Field(default_factory=list)
    # Values often carry credentials (API tokens), so they are secrets.
    env: dict[str, SecretStrValue] = Field(default_factory=dict)
    cwd: PathValue | None = None
    working_directory: PathValue | None = None
    url: str | None = None
    headers: dict[str, SecretStrValue] = Field(default_factory=dict)
    # One tool call (and each listing) may take this long; then the turn gets an error and goes on.
    timeout_seconds: float = Field(60.0, gt=0, le=3600)
    connect_timeout_seconds: float = Field(30.0, gt=0, le=600)
    request_timeout_ms: int | None = Field(None, gt=0)
    connection_timeout_ms: int | None = Field(None, gt=0)
    # false: started with the gateway (its tools are in the first turn). true: started on first use;
    # its tools are offered from its last listing (<stateDir>/mcp/); a server never seen before is
    # started once in the background to learn them.
    lazy: bool = False
    tool_filter: ToolFilterConfig = section()
    # A tool result longer than this is cut (like other tools' output caps).
    max_result_chars: int = Field(20_000, ge=100)

    @model_validator(mode="after")
    def _one_transport(self) -> McpServerConfig:
        problems: list[tuple[str, str]] = []
        if self.command is not None and self.url is not None:
            problems.append(("", "set either command (stdio) or url (HTTP), not both"))
        elif self.command is None and self.url is None:
            problems.append(("", "needs a command (stdio server) or a url (HTTP server)"))
        if self.transport == "stdio" and self.command is None:
            problems.append(("transport", "stdio needs a command"))
        if self.transport in ("streamable-http", "sse") and self.url is None:
            problems.append(("transport", f"{self.transport} needs a url"))
        if self.url is not None and not self.url.startswith(("http://", "https://")):
            problems.append(("url", f"{self.url!r} should start with http:// or https://"))
        if self.cwd is not None and self.working_directory is not None:
            problems.append(("workingDirectory", "set cwd or workingDirectory, not both"))
        for key in self.env:
            if key.upper() in _UNSAFE_ENV or key.upper().startswith(_UNSAFE_ENV_PREFIXES):
                problems.append((f"env.{key}", "changes how the server's interpreter or linker starts; refused"))
        if problems:
            raise ProblemsError(problems)
        return self

    @property
    def kind(self) -> Literal["stdio", "streamable-http", "sse"]:
        if self.transport is not None:
            return self.transport
        return "stdio" if self.command is not None else "streamable-http"

    @property
    def request_timeout(self) -> float:
        return self.request_timeout_ms / 1000 if self.request_timeout_ms is not None else self.timeout_seconds

    @property
    def connect_timeout(self) -> float:
        if self.connection_timeout_ms is not None:
            return self.connection_timeout_ms / 1000
        return self.connect_timeout_seconds

    @property
    def folder(self) -> PathValue | None:
        return self.cwd if self.cwd is not None else self.working_directory


class McpConfig(Section):
    """MCP servers by name; `agents.list[].mcp` picks which ones an agent gets (all when unset)."""

    servers: dict[ServerName, McpServerConfig] = Field(default_factory=dict)
    # Servers run on the host, outside any sandbox: a sandboxed session (sandbox.mode all/non-main)
    # gets a server's tools only when it is listed here (`*`: every server). OpenClaw asks the same
    # with tools.sandbox.tools.alsoAllow: [bundle-mcp].
    allow_in_sandbox: list[str] = Field(default_factory=list)
    # A crashed server is started again after this many seconds, doubling up to `restartMaxSeconds`.
    restart_backoff_seconds: float = Field(1.0, gt=0)
    restart_max_seconds: float = Field(60.0, gt=0)
