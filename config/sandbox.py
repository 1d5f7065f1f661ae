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


class DockerConfig(Section):
    """Container settings, hardened by default (no network, read-only root, no capabilities)."""

    image: str = "rustyclaw-sandbox:latest"
    network: Annotated[Literal["none", "bridge"], BeforeValidator(_refuse_host_network)] = "none"
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

    mode: Annotated[Literal["off", "non-main", "all"], off_flag()] = "off"
    # OpenClaw's default is one container per agent (docs/gateway/sandboxing.md, "Modes, scope").
    scope: Literal["session", "agent", "shared"] = "agent"
    workspace_access: Literal["none", "ro", "rw"] = "none"
    prune_idle_hours: float = Field(24.0, ge=0)
    docker: DockerConfig = section()


class AgentSandboxConfig(Section):
    """`agents.list[].sandbox`: one agent's own mode; the container settings stay the shared ones."""

    mode: Literal["off", "non-main", "all"]
