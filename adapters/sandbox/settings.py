"""From the `sandbox` config section to a SandboxSpec and a DockerSandbox (no docker import here)."""

from __future__ import annotations

import re
from pathlib import Path

from rustyclaw.adapters.sandbox.docker_engine import DockerSandbox
from rustyclaw.config.sandbox import SandboxConfig
from rustyclaw.domain.errors import SandboxError
from rustyclaw.ports.sandbox import SandboxSpec

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([bkmgt]?)b?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def parse_bytes(value: str | int | float) -> int:
    """Docker's size form: "1g", "512m", "1.5g", "65536"; "-1" (unlimited) stays -1."""
    if isinstance(value, int | float):
        return int(value)
    if value.strip() == "-1":
        return -1
    match = _SIZE.match(value)
    if not match:
        raise SandboxError(f"sandbox size {value!r} is not a size such as 512m or 1g")
    return int(float(match[1]) * _UNITS[match[2].lower()])


def spec_from_config(sandbox: SandboxConfig, workspace: str | Path | None = None) -> SandboxSpec:
    """The spec for one agent from `config.sandbox` (a SandboxConfig) and the agent's workspace folder."""
    docker = sandbox.docker
    access = sandbox.workspace_access
    return SandboxSpec(
        image=docker.image,
        network=docker.network,
        memory=parse_bytes(docker.memory),
        memory_swap=None if docker.memory_swap is None else parse_bytes(docker.memory_swap),
        cpus=float(docker.cpus),
        pids_limit=int(docker.pids_limit),
        user=docker.user,
        read_only_root=bool(docker.read_only_root),
        tmpfs=tuple(docker.tmpfs),
        cap_drop=tuple(docker.cap_drop),
        env={str(key): str(value) for key, value in docker.env.items()},
        workspace=str(workspace) if workspace is not None and access != "none" else None,
        workspace_access=access,
        timeout=float(docker.timeout_seconds),
        max_output_bytes=int(docker.max_output_bytes),
        setup_command=docker.setup_command,
    )


def sandbox_from_config(sandbox: SandboxConfig) -> DockerSandbox:
    """The adapter for `config.sandbox`; it does no I/O until first used."""
    return DockerSandbox(sandbox.docker.base_url)
