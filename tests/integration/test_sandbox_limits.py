"""Resource limits of the code sandbox on a real engine: memory, processes, and the host surviving."""

from __future__ import annotations

import anyio
import msgspec
import pytest

from rustyclaw.adapters.sandbox.docker_engine import DockerSandbox
from rustyclaw.ports.sandbox import SandboxSpec

pytestmark = pytest.mark.anyio


async def test_memory_hog_is_killed_and_reported(docker_sandbox: DockerSandbox, sandbox_spec: SandboxSpec) -> None:
    spec = msgspec.structs.replace(sandbox_spec, memory=32 * 1024**2, timeout=30.0)
    # The shell holds ~200 MB in one variable; the cgroup allows 32 MB and no swap.
    hog = "x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo survived ${#x}"
    result = await docker_sandbox.run("m", hog, spec)
    assert result.exit_code == 137
    assert result.oom_killed and not result.timed_out
    assert "survived" not in result.stdout
    # Below the limit the same shape of command works in the same scope (the OOM killer may have
    # taken the container's keeper too; then the scope gets a new container).
    small = await docker_sandbox.run("m", "x=$(head -c 1000000 /dev/zero | tr '\\0' a); echo ${#x}", spec)
    assert small.exit_code == 0 and small.stdout == "1000000\n" and not small.oom_killed


async def test_memory_limit_is_what_the_spec_says(docker_sandbox: DockerSandbox, sandbox_spec: SandboxSpec) -> None:
    spec = msgspec.structs.replace(sandbox_spec, memory=48 * 1024**2, cpus=0.5)
    # cgroup v1 and v2 name the files differently; print whichever exists.
    result = await docker_sandbox.run(
        "c",
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max;"
        "cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us 2>/dev/null"
        " || cat /sys/fs/cgroup/cpu.max",
        spec,
    )
    numbers = [int(n) for n in result.stdout.split() if n.isdigit()]
    assert numbers[0] == 48 * 1024**2
    quota, period = numbers[1], numbers[2]
    assert quota * 2 == period  # 0.5 CPU


async def test_process_count_stops_at_pids_limit(docker_sandbox: DockerSandbox, sandbox_spec: SandboxSpec) -> None:
    spec = msgspec.structs.replace(sandbox_spec, pids_limit=16, timeout=20.0)
    # A subshell starts 40 sleepers and dies when fork fails; the parent then counts the
    # container's processes with builtins only (no fork is left to spare).
    result = await docker_sandbox.run(
        "p", "(for i in $(seq 1 40); do sleep 5 & done); set -- /proc/[0-9]*; echo $#", spec
    )
    assert "can't fork" in result.stderr or "Resource temporarily unavailable" in result.stderr
    processes = int(result.stdout.split()[-1])
    assert 10 < processes <= 16


@pytest.mark.slow
async def test_fork_bomb_is_contained(docker_sandbox: DockerSandbox, sandbox_spec: SandboxSpec) -> None:
    spec = msgspec.structs.replace(sandbox_spec, pids_limit=16, timeout=4.0, max_output_bytes=2048)
    result = await docker_sandbox.run("bomb", "bomb() { bomb | bomb & }; bomb; sleep 30", spec)
    # Forks fail at the limit; the run ends by itself or by the timeout killing the container.
    assert not result.ok
    assert "can't fork" in result.stderr or result.stderr_truncated
    # The host and the engine are fine, and the bomb's scope answers again.
    assert (await anyio.run_process(["true"], check=False)).returncode == 0
    other = await docker_sandbox.run("other", "echo ok", sandbox_spec)
    assert other.stdout == "ok\n"
    again = await docker_sandbox.run("bomb", "echo ok", spec)
    assert again.stdout == "ok\n"
