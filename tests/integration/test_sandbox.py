"""The code sandbox on a real engine (podman through the Docker Engine API; no mocked client).

Fixtures: tests/fixtures/sandbox.py (sandbox_engine_url, sandbox_spec, docker_sandbox).
"""

from __future__ import annotations

import os
import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import anyio
import msgspec
import pytest

from rustyclaw.adapters.sandbox.docker_engine import DockerSandbox
from rustyclaw.adapters.sandbox.engine_client import EngineClient
from rustyclaw.domain.errors import SandboxError, SandboxUnavailableError
from rustyclaw.ports.sandbox import SandboxSpec

pytestmark = pytest.mark.anyio


def _replace(spec: SandboxSpec, **changes: object) -> SandboxSpec:
    return msgspec.structs.replace(spec, **changes)


async def _containers(sandbox: DockerSandbox, url: str) -> list[dict[str, object]]:
    engine = EngineClient(url)
    try:
        client = await engine.get()
        listed: list[dict[str, object]] = await engine.call(
            client.api.containers, all=True, filters={"label": f"rustyclaw.sandbox={sandbox.name_prefix}"}
        )
        return listed
    finally:
        await engine.aclose()


async def test_echo_keeps_stdout_and_stderr_apart(docker_sandbox: DockerSandbox, sandbox_spec: SandboxSpec) -> None:
    result = await docker_sandbox.run("s", "echo to-out; echo to-err >&2; echo more-out", sandbox_spec)
    assert result.exit_code == 0
    assert result.stdout == "to-out\nmore-out\n"
    assert result.stderr == "to-err\n"
    assert not (result.timed_out or result.oom_killed or result.truncated)


async def test_exit_code_and_argv_form(docker_sandbox: DockerSandbox, sandbox_spec: SandboxSpec) -> None:
    failed = await docker_sandbox.run("s", "exit 7", sandbox_spec)
    assert failed.exit_code == 7 and not failed.ok
    # argv form: no shell, so the '$HOME; x' reaches echo verbatim.
    argv = await docker_sandbox.run("s", ["echo", "$HOME; x"], sandbox_spec)
    assert argv.stdout == "$HOME; x\n"


async def test_runs_as_non_root_without_capabilities(docker_sandbox: DockerSandbox, sandbox_spec: SandboxSpec) -> None:
    result = await docker_sandbox.run(
        "s", "id -u; id -g; grep -E '^(CapEff|CapPrm|CapBnd|NoNewPrivs)' /proc/self/status", sandbox_spec
    )
    lines = result.stdout.splitlines()
    assert lines[0] == "1000" and lines[1] == "1000"
    fields = dict(line.split(":\t") for line in lines[2:])
    assert fields["CapEff"] == fields["CapPrm"] == fields["CapBnd"] == "0000000000000000"
    assert fields["NoNewPrivs"] == "1"


async def test_read_only_root_and_writable_tmpfs(docker_sandbox: DockerSandbox, sandbox_spec: SandboxSpec) -> None:
    result = await docker_sandbox.run(
        "s", "echo x > /etc/probe; echo root=$?; echo y > /tmp/probe && cat /tmp/probe", sandbox_spec
    )
    assert "root=1" in result.stdout
    assert "Read-only file system" in result.stderr
    assert result.stdout.endswith("y\n")


async def test_workspace_read_only_vs_read_write(
    docker_sandbox: DockerSandbox, sandbox_spec: SandboxSpec, tmp_path: Path
) -> None:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    workspace.chmod(0o777)  # the sandbox user (1000) must be able to write when mounted rw
    (workspace / "given.txt").write_text("from host\n")

    ro = _replace(sandbox_spec, workspace=str(workspace), workspace_access="ro")
    result = await docker_sandbox.run("ro", "cat given.txt; echo nope > /workspace/ro.txt; echo rc=$?", ro)
    assert result.stdout.startswith("from host\n") and "rc=1" in result.stdout
    assert "Read-only file system" in result.stderr
    assert not (workspace / "ro.txt").exists()

    rw = _replace(sandbox_spec, workspace=str(workspace), workspace_access="rw")
    result = await docker_sandbox.run("rw", "echo written-inside > /workspace/rw.txt; echo rc=$?", rw)
    assert "rc=0" in result.stdout
    assert (workspace / "rw.txt").read_text() == "written-inside\n"

    hidden = await docker_sandbox.run("none", "ls /workspace", sandbox_spec)
    assert "given.txt" not in hidden.stdout


async def test_timeout_kills_a_long_command(docker_sandbox: DockerSandbox, sandbox_spec: SandboxSpec) -> None:
    spec = _replace(sandbox_spec, timeout=1.5)
    await docker_sandbox.run("t", "echo kept > /tmp/before", spec)
    result = await docker_sandbox.run("t", "echo started; sleep 60; echo never", spec)
    assert result.timed_out and not result.oom_killed
    assert result.exit_code != 0
    assert result.stdout == "started\n"  # output up to the kill is kept
    assert result.duration < 60  # it did not wait for the sleep
    # The killed container is gone; the scope gets a fresh one that works.
    after = await docker_sandbox.run("t", "cat /tmp/before 2>/dev/null || echo fresh", spec)
    assert after.exit_code == 0 and after.stdout == "fresh\n"


async def test_huge_output_is_capped_per_stream(docker_sandbox: DockerSandbox, sandbox_spec: SandboxSpec) -> None:
    spec = _replace(sandbox_spec, max_output_bytes=4096)
    result = await docker_sandbox.run("s", "head -c 10000000 /dev/zero | tr '\\0' a; echo small-err >&2", spec)
    assert result.exit_code == 0
    assert result.stdout_truncated and not result.stderr_truncated
    assert result.stdout.startswith("a" * 4096)
    assert result.stdout[4096:] == "\n[... 9995904 bytes truncated]"
    assert result.stderr == "small-err\n"


async def test_scope_reuse_and_isolation(
    docker_sandbox: DockerSandbox, sandbox_spec: SandboxSpec, sandbox_engine_url: str
) -> None:
    await docker_sandbox.run("agent:a", "echo secret-a > /tmp/note", sandbox_spec)
    same = await docker_sandbox.run("agent:a", "cat /tmp/note", sandbox_spec)
    assert same.stdout == "secret-a\n"
    other = await docker_sandbox.run("agent:b", "cat /tmp/note", sandbox_spec)
    assert other.exit_code != 0 and "secret-a" not in other.stdout
    containers = await _containers(docker_sandbox, sandbox_engine_url)
    assert len(containers) == 2


async def test_concurrent_first_calls_share_one_container(
    docker_sandbox: DockerSandbox, sandbox_spec: SandboxSpec, sandbox_engine_url: str
) -> None:
    results: list[str] = []

    async def one(i: int) -> None:
        result = await docker_sandbox.run("shared", f"echo {i} >> /tmp/log; hostname", sandbox_spec)
        results.append(result.stdout)

    async with anyio.create_task_group() as tg:
        for i in range(4):
            tg.start_soon(one, i)
    assert len(set(results)) == 1  # one hostname: one container
    log = await docker_sandbox.run("shared", "sort /tmp/log", sandbox_spec)
    assert log.stdout == "0\n1\n2\n3\n"
    assert len(await _containers(docker_sandbox, sandbox_engine_url)) == 1


async def test_fresh_container_per_call_when_not_reused(
    docker_sandbox: DockerSandbox, sandbox_spec: SandboxSpec, sandbox_engine_url: str
) -> None:
    spec = _replace(sandbox_spec, reuse=False)
    await docker_sandbox.run("f", "echo x > /tmp/note", spec)
    second = await docker_sandbox.run("f", "cat /tmp/note", spec)
    assert second.exit_code != 0
    assert await _containers(docker_sandbox, sandbox_engine_url) == []


async def test_changed_spec_gets_a_new_container(docker_sandbox: DockerSandbox, sandbox_spec: SandboxSpec) -> None:
    await docker_sandbox.run("c", "echo x > /tmp/note", sandbox_spec)
    changed = _replace(sandbox_spec, env={"GREETING": "hello"})
    result = await docker_sandbox.run("c", "echo $GREETING; cat /tmp/note", changed)
    assert result.stdout == "hello\n" and result.exit_code != 0
    # Per-command limits do not count as a change: the container (and its file) stays.
    await docker_sandbox.run("c", "echo y > /tmp/note", changed)
    kept = await docker_sandbox.run("c", "cat /tmp/note", _replace(changed, timeout=5.0, max_output_bytes=100))
    assert kept.stdout == "y\n"


async def test_setup_command_runs_once_per_container(docker_sandbox: DockerSandbox, sandbox_spec: SandboxSpec) -> None:
    spec = _replace(sandbox_spec, setup_command="echo setup >> /tmp/setup.log")
    await docker_sandbox.run("s", "true", spec)
    result = await docker_sandbox.run("s", "cat /tmp/setup.log", spec)
    assert result.stdout == "setup\n"
    failing = _replace(sandbox_spec, setup_command="echo broken >&2; exit 3")
    with pytest.raises(SandboxError, match="setupCommand failed \\(exit 3\\): broken"):
        await docker_sandbox.run("s2", "true", failing)


async def test_prune_and_remove(
    docker_sandbox: DockerSandbox, sandbox_spec: SandboxSpec, sandbox_engine_url: str
) -> None:
    for key in ("p1", "p2", "p3"):
        await docker_sandbox.run(key, "true", sandbox_spec)
    assert await docker_sandbox.prune(3600) == 0
    assert await docker_sandbox.remove("p3") is True
    assert await docker_sandbox.remove("p3") is False
    assert len(await _containers(docker_sandbox, sandbox_engine_url)) == 2
    assert await docker_sandbox.prune(0) == 2
    assert await _containers(docker_sandbox, sandbox_engine_url) == []
    # A pruned scope comes back on its next call.
    again = await docker_sandbox.run("p1", "echo back", sandbox_spec)
    assert again.stdout == "back\n"


async def test_prune_only_touches_its_own_containers(
    docker_sandbox: DockerSandbox, sandbox_spec: SandboxSpec, sandbox_engine_url: str
) -> None:
    other = DockerSandbox(sandbox_engine_url, name_prefix=docker_sandbox.name_prefix + "-other")
    try:
        await other.run("x", "true", sandbox_spec)
        await docker_sandbox.run("x", "true", sandbox_spec)
        assert await docker_sandbox.prune(0) == 1
        assert len(await _containers(other, sandbox_engine_url)) == 1
    finally:
        await other.prune(0)
        await other.aclose()


async def test_a_new_instance_adopts_the_running_container(
    docker_sandbox: DockerSandbox, sandbox_spec: SandboxSpec, sandbox_engine_url: str
) -> None:
    await docker_sandbox.run("keep", "echo survived > /tmp/note", sandbox_spec)
    restarted = DockerSandbox(sandbox_engine_url, name_prefix=docker_sandbox.name_prefix)
    try:
        result = await restarted.run("keep", "cat /tmp/note", sandbox_spec)
    finally:
        await restarted.aclose()
    assert result.stdout == "survived\n"


async def test_cancelling_a_run_kills_its_container(
    docker_sandbox: DockerSandbox, sandbox_spec: SandboxSpec, sandbox_engine_url: str
) -> None:
    await docker_sandbox.run("k", "true", sandbox_spec)
    [before] = await _containers(docker_sandbox, sandbox_engine_url)
    assert before["State"] == "running"
    with anyio.move_on_after(1.0) as waited:
        await docker_sandbox.run("k", "sleep 60", sandbox_spec)
    assert waited.cancelled_caught
    # The container with the sleeping command is gone; the scope answers from a new one.
    assert before["Id"] not in [c["Id"] for c in await _containers(docker_sandbox, sandbox_engine_url)]
    after = await docker_sandbox.run("k", "echo alive", sandbox_spec)
    assert after.stdout == "alive\n"


async def test_missing_image_is_a_clear_error(docker_sandbox: DockerSandbox, sandbox_spec: SandboxSpec) -> None:
    spec = _replace(sandbox_spec, image="rustyclaw-no-such-image:never")
    with pytest.raises(SandboxError, match=r"rustyclaw-no-such-image:never.*not present.*build-image"):
        await docker_sandbox.run("m", "true", spec)


def test_host_network_is_refused() -> None:
    with pytest.raises(SandboxError, match="'host' is refused"):
        SandboxSpec(network="host")


@pytest.fixture
def silent_socket(tmp_path: Path) -> Iterator[str]:
    """A unix socket that exists but where nothing accepts: connecting is refused."""
    path = tmp_path / "dead.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    try:
        yield f"unix://{path}"
    finally:
        sock.close()


@pytest.mark.parametrize("kind", ["refusing", "absent"])
async def test_no_engine_means_unavailable_not_a_crash(
    kind: str, silent_socket: str, tmp_path: Path, sandbox_spec: SandboxSpec
) -> None:
    url = silent_socket if kind == "refusing" else f"unix://{tmp_path}/absent.sock"
    sandbox = DockerSandbox(url)
    await sandbox.start()  # the gateway starts without an engine
    try:
        assert await sandbox.available() is False
        with pytest.raises(SandboxUnavailableError) as caught:
            await sandbox.run("s", "echo hi", sandbox_spec)
        assert str(caught.value) == (
            f"no container engine answers at {url}: start Docker or podman (see rustyclaw sandbox doctor)"
        )
    finally:
        await sandbox.aclose()


async def test_available_with_a_live_engine(docker_sandbox: DockerSandbox) -> None:
    assert await docker_sandbox.available() is True


class _HostServer:
    """A TCP server on all host interfaces that greets whoever connects."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("0.0.0.0", 0))
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                conn.sendall(b"hello-from-host\n")


@pytest.fixture
def host_server() -> Iterator[_HostServer]:
    server = _HostServer()
    try:
        yield server
    finally:
        server.sock.close()


async def test_network_none_reaches_nothing(
    docker_sandbox: DockerSandbox, sandbox_spec: SandboxSpec, host_server: _HostServer
) -> None:
    # Control: on a bridge network the same probe reaches the host server through the gateway,
    # so a failure with "none" means no network, not a broken probe.
    bridge = _replace(sandbox_spec, network="bridge")
    route = await docker_sandbox.run("bridge", "ip route", bridge)
    gateway = next(line.split()[2] for line in route.stdout.splitlines() if line.startswith("default via"))
    probe = f"nc -w 3 {gateway} {host_server.port} </dev/null; echo rc=$?"
    reached = await docker_sandbox.run("bridge", probe, bridge)
    assert "hello-from-host" in reached.stdout and host_server.connections == 1

    isolated = await docker_sandbox.run("none", f"ls /sys/class/net; {probe}", sandbox_spec)
    assert isolated.stdout.splitlines()[0] == "lo" and "hello-from-host" not in isolated.stdout
    assert "rc=1" in isolated.stdout and "Network is unreachable" in isolated.stderr
    assert host_server.connections == 1
    interfaces = await docker_sandbox.run("none", "ls /sys/class/net", sandbox_spec)
    assert interfaces.stdout == "lo\n"


def test_engine_url_defaults() -> None:
    from rustyclaw.adapters.sandbox.engine_client import resolve_base_url

    assert resolve_base_url("tcp://10.0.0.1:2375") == "tcp://10.0.0.1:2375"
    assert resolve_base_url(None, {"DOCKER_HOST": "unix:///x.sock"}) == "unix:///x.sock"
    expected = (
        "unix:///run/rustyclaw-podman.sock"
        if os.path.exists("/run/rustyclaw-podman.sock")
        else "unix:///var/run/docker.sock"
    )
    assert resolve_base_url(None, {}) == expected


async def test_pinging_does_not_load_the_sdk(sandbox_engine_url: str) -> None:
    # The docker SDK and requests cost ~14 MB of RSS; a health check must not pull them in.
    code = (
        "import sys, anyio\n"
        "from rustyclaw.adapters.sandbox.docker_engine import DockerSandbox\n"
        f"assert anyio.run(DockerSandbox({sandbox_engine_url!r}).available) is True\n"
        "print(sorted(m for m in ('docker', 'requests', 'urllib3') if m in sys.modules))\n"
    )
    result = await anyio.run_process([sys.executable, "-c", code], check=True)
    assert result.stdout.decode().strip() == "[]"


async def test_background_pruning_removes_idle_containers(
    docker_sandbox: DockerSandbox, sandbox_spec: SandboxSpec, sandbox_engine_url: str
) -> None:
    from rustyclaw.adapters.sandbox.idle import prune_idle_forever

    await docker_sandbox.run("idle", "true", sandbox_spec)
    assert len(await _containers(docker_sandbox, sandbox_engine_url)) == 1
    async with anyio.create_task_group() as tg:
        tg.start_soon(prune_idle_forever, docker_sandbox, 0.0, 0.2)
        for _ in range(200):
            if not await _containers(docker_sandbox, sandbox_engine_url):
                break
            await anyio.sleep(0.1)
        else:
            pytest.fail("the idle container was never pruned")
        tg.cancel_scope.cancel()
