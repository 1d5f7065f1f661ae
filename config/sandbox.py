"""The `sandbox` section: where tool commands run (containers via the Docker API, podman works too)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BeforeValidator, Field

from rustyclaw.config.base import SecretStrValue, Section, matching, off_flag, section

MemorySize = Annotated[str, matching(r"^(-1|\d+(\.\d+)?[bkmgBKMG]?)$", "should be a size such as 512m or 1g")]


def _refuse_host_network(value: object) -> object:
    if value == "host":
        raise ValueError(
            "network 'host' is refused: it would give sandboxed code the host's network; "
            "use 'none' (default) or 'bridge'"
        )
    return value


SandboxMode = Annotated[Literal["off", "non-main", "all"], off_flag()]
SandboxScope = Literal["session", "agent", "shared"]
WorkspaceAccess = Literal["none", "ro", "rw"]
Network = Annotated[Literal["none", "bridge"], BeforeValidator(_refuse_host_network)]


class DockerConfig(Section):
    """Container settings, hardened by default (no network, read-only root, no capabilities)."""

    image: str = "rustyclaw-sandbox:latest"
    network: Network = "none"
    read_only_root: bool = True
    tmpfs: list[str] = Field(default_factory=lambda: ["/tmp"])
    user: str = "1000:1000"
    cap_drop: list[str] = Field(default_factory=lambda: ["ALL"])
    pids_limit: int = Field(256, ge=1)
    memory: MemorySize = "1g"
    memory_swap: MemorySize | None = None
    cpus: float = Field(1.0, gt=0)
    # Environment values often carry credentials, so they are treated as secrets.
    env: dict[str, SecretStrValue] = Field(default_factory=dict)
    setup_command: str | None = None
    timeout_seconds: float = Field(60.0, gt=0)
    max_output_bytes: int = Field(65536, ge=1)
    base_url: str | None = None


class SandboxConfig(Section):
    """OpenClaw's sandbox modes: off, every session but the main one, or all sessions."""

    mode: SandboxMode = "off"
    # OpenClaw's default is one container per agent (docs/gateway/sandboxing.md, "Modes, scope").
    scope: SandboxScope = "agent"
    workspace_access: WorkspaceAccess = "none"
    prune_idle_hours: float = Field(24.0, ge=0)
    docker: DockerConfig = section()

    def for_agent(self, own: AgentSandboxConfig | None) -> SandboxConfig:
        """This section with an agent's own settings (agents.list[].sandbox) in place of the shared ones."""
        if own is None:
            return self
        docker = self.docker
        if own.docker is not None:
            docker = docker.model_copy(update=_set(image=own.docker.image, network=own.docker.network))
        return self.model_copy(update={
            **_set(mode=own.mode, scope=own.scope, workspace_access=own.workspace_access), "docker": docker})


def _set(**values: object) -> dict[str, object]:
    return {key: value for key, value in values.items() if value is not None}


class AgentDockerConfig(Section):
    """`agents.list[].sandbox.docker`: what this agent's containers do differently (OpenClaw's names);
    None keeps the shared `sandbox.docker` value."""

    image: str | None = None
    network: Network | None = None


class AgentSandboxConfig(Section):
    """`agents.list[].sandbox` (OpenClaw's names): this agent's own mode, scope, workspace access and
    container image and network; each unset field keeps the shared `sandbox` value."""

    mode: SandboxMode | None = None
    scope: SandboxScope | None = None
    workspace_access: WorkspaceAccess | None = None
    docker: AgentDockerConfig | None = None
