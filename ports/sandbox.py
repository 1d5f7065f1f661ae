"""Where tool commands run: an isolated container reached through a container engine's API."""

from __future__ import annotations

from typing import Literal, Protocol

import msgspec

from rustyclaw.domain.errors import SandboxError

DEFAULT_IMAGE = "rustyclaw-sandbox:latest"
GIB = 1024**3

SandboxScope = Literal["session", "agent", "shared"]


class SandboxSpec(msgspec.Struct, frozen=True, kw_only=True):
    """How one command's container is confined; hardened by default.

    - `network`: "none" (only the loopback interface) or "bridge"; "host" is refused.
    - `memory` and `memory_swap` are bytes; `memory_swap` is memory plus swap as in Docker
      (`None`: equal to `memory`, so no swap; `-1`: unlimited swap).
    - `tmpfs` entries are "path" or "path:options" (Docker's form); without options a tmpfs is
      mounted `rw,nosuid,nodev,mode=1777`. With `read_only_root` only tmpfs paths and a "rw"
      workspace are writable.
    - `workspace` is a host folder mounted at `workspace_mount` with `workspace_access`
      ("none" mounts nothing).
    - `timeout` (seconds) bounds each command; `max_output_bytes` caps stdout and stderr each.
    - `setup_command` runs once (shell form) after a container is created, before the first
      command; it failing is a `SandboxError`.
    - `reuse`: keep one container per scope key and exec each command in it (what the scopes
      mean); False: a fresh container per command, removed afterwards.
    """

    image: str = DEFAULT_IMAGE
    network: str = "none"
    memory: int = GIB
    memory_swap: int | None = None
    cpus: float = 1.0
    pids_limit: int = 256
    user: str = "1000:1000"
    read_only_root: bool = True
    tmpfs: tuple[str, ...] = ("/tmp",)
    cap_drop: tuple[str, ...] = ("ALL",)
    env: dict[str, str] = msgspec.field(default_factory=dict)
    workspace: str | None = None
    workspace_access: str = "none"
    workspace_mount: str = "/workspace"
    timeout: float = 60.0
    max_output_bytes: int = 65536
    setup_command: str | None = None
    reuse: bool = True

    def __post_init__(self) -> None:
        if self.network == "host":
            raise SandboxError(
                "sandbox network 'host' is refused: it would give sandboxed code the host's network; "
                "use 'none' (default) or 'bridge'"
            )
        if self.network not in ("none", "bridge"):
            raise SandboxError(f"sandbox network must be 'none' or 'bridge', not {self.network!r}")
        if self.workspace_access not in ("none", "ro", "rw"):
            raise SandboxError(
                f"sandbox workspace_access must be 'none', 'ro' or 'rw', not {self.workspace_access!r}"
            )
        if self.workspace_access != "none" and not self.workspace:
            raise SandboxError(f"sandbox workspace_access {self.workspace_access!r} needs a workspace folder")
        if self.memory <= 0 or self.pids_limit <= 0 or self.cpus <= 0:
            raise SandboxError("sandbox memory, pids_limit and cpus must be positive")
        if self.timeout <= 0 or self.max_output_bytes <= 0:
            raise SandboxError("sandbox timeout and max_output_bytes must be positive")


class ExecResult(msgspec.Struct, frozen=True, kw_only=True):
    """What one command did. Output is decoded UTF-8 (bad bytes replaced), each stream capped.

    `timed_out`: the timeout killed it (its container was killed too). `oom_killed`: it was
    SIGKILLed (exit 137) without a timeout and its container survived, which is how an
    out-of-memory kill shows (engines do not report OOMKilled reliably). A truncated stream ends
    with a "[... N bytes truncated]" marker.
    """

    exit_code: int
    stdout: str
    stderr: str
    timed_out: bool = False
    oom_killed: bool = False
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    duration: float = 0.0

    @property
    def truncated(self) -> bool:
        return self.stdout_truncated or self.stderr_truncated

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out


class Sandbox(Protocol):
    """Runs commands in containers, reused per scope key and removed after an idle time.

    Contract (tests/integration/test_sandbox*.py):
    - `start()` does no I/O that can fail when no engine runs: the gateway must start anyway.
      `aclose()` releases the engine connection and is idempotent; containers stay for reuse
      until `prune` removes them.
    - `available()` is True when the engine answers; it never raises.
    - `run(scope_key, command, spec)`: a str command runs through `sh -c`, a list as argv.
      Calls with the same scope key (and an unchanged spec) share one container, so files in
      its /tmp survive between calls; different keys never share one. Raises
      `SandboxUnavailableError` when no engine answers, `SandboxError` for anything else the
      engine refuses (missing image, bad spec). A non-zero exit is a result, not an error.
    - `remove(scope_key)` removes that scope's container (e.g. on session reset).
    - `prune(idle_seconds)` removes this instance's containers unused for longer than that
      (and any that stopped); it returns how many it removed.
    """

    async def start(self) -> None: ...

    async def aclose(self) -> None: ...

    async def available(self) -> bool: ...

    async def run(self, scope_key: str, command: str | list[str], spec: SandboxSpec) -> ExecResult: ...

    async def remove(self, scope_key: str) -> bool: ...

    async def prune(self, idle_seconds: float) -> int: ...


def sandbox_scope_key(scope: str, agent_id: str, session_key: str) -> str:
    """The container key for OpenClaw's scopes: one per session, one per agent, or one for all."""
    if scope == "session":
        return session_key
    if scope == "agent":
        return f"agent:{agent_id}"
    if scope == "shared":
        return "shared"
    raise SandboxError(f"sandbox scope must be 'session', 'agent' or 'shared', not {scope!r}")
