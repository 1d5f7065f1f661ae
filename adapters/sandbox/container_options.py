"""Turning a SandboxSpec into the engine's create-container arguments (pure: no I/O, no docker import)."""

from __future__ import annotations

import hashlib
import os
from typing import Any

import msgspec

from rustyclaw.domain.errors import SandboxError
from rustyclaw.ports.sandbox import SandboxSpec

DEFAULT_TMPFS_OPTIONS = "rw,nosuid,nodev,mode=1777"
LABEL_INSTANCE = "rustyclaw.sandbox"
LABEL_SCOPE = "rustyclaw.sandbox.scope"
LABEL_SPEC = "rustyclaw.sandbox.spec"

# PID 1 of a reused container: a shell that sleeps and reaps (orphans of exec'd commands are
# re-parented to it; a bare `sleep` would leave zombies counting against pids_limit).
KEEPER_COMMAND = ["sh", "-c", "trap 'exit 0' TERM INT; while :; do sleep 3600 & wait $!; done"]


def spec_fingerprint(spec: SandboxSpec) -> str:
    """Identifies the container settings; per-command limits (timeout, output cap) do not count."""
    container_part = msgspec.structs.replace(spec, timeout=1.0, max_output_bytes=1)
    return hashlib.sha256(msgspec.json.encode(container_part)).hexdigest()[:16]


def container_name(prefix: str, scope_key: str) -> str:
    return f"{prefix}-{hashlib.sha256(scope_key.encode()).hexdigest()[:16]}"


def parse_tmpfs(entries: tuple[str, ...]) -> dict[str, str]:
    mounts: dict[str, str] = {}
    for entry in entries:
        path, _, options = entry.partition(":")
        if not path.startswith("/"):
            raise SandboxError(f"sandbox tmpfs entry {entry!r} must start with an absolute path")
        mounts[path] = options or DEFAULT_TMPFS_OPTIONS
    return mounts


def working_dir(spec: SandboxSpec) -> str:
    return spec.workspace_mount if spec.workspace_access != "none" else "/tmp"


def create_kwargs(spec: SandboxSpec, *, name: str, labels: dict[str, str]) -> dict[str, Any]:
    """Keyword arguments (besides the image) for `DockerClient.containers.create`, every limit explicit.

    The network mode is always passed: the Engine API applies no default of "none".
    """
    if spec.network not in ("none", "bridge"):
        raise SandboxError(f"sandbox network {spec.network!r} is refused; use 'none' or 'bridge'")
    volumes: dict[str, dict[str, str]] = {}
    if spec.workspace_access != "none":
        assert spec.workspace is not None  # SandboxSpec checks this
        host = os.path.abspath(spec.workspace)
        if not os.path.isdir(host):
            raise SandboxError(f"sandbox workspace {host!r} is not a folder")
        volumes[host] = {"bind": spec.workspace_mount, "mode": spec.workspace_access}
    memory_swap = spec.memory if spec.memory_swap is None else spec.memory_swap
    return {
        "command": KEEPER_COMMAND,
        "name": name,
        "labels": labels,
        "network_mode": spec.network,
        "mem_limit": spec.memory,
        "memswap_limit": memory_swap,
        "pids_limit": spec.pids_limit,
        "nano_cpus": round(spec.cpus * 1e9),
        "user": spec.user,
        "cap_drop": list(spec.cap_drop),
        "security_opt": ["no-new-privileges"],
        "read_only": spec.read_only_root,
        "tmpfs": parse_tmpfs(spec.tmpfs),
        "volumes": volumes,
        "working_dir": working_dir(spec),
        "environment": dict(spec.env),
        "stdin_open": False,
        "tty": False,
    }


def exec_argv(command: str | list[str]) -> list[str]:
    if isinstance(command, str):
        return ["sh", "-c", command]
    if not command:
        raise SandboxError("sandbox command is empty")
    return list(command)
