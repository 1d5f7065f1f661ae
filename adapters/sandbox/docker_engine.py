"""The Sandbox port on any Docker Engine API (Docker, or podman's `system service`).

A scope's container is a long-running keeper; each command is an exec in it, so a scope's files in
/tmp survive between calls. Output comes back over the exec's raw socket, demultiplexed and capped
per stream. A timeout (or the caller being cancelled) kills the whole container: the Engine API
cannot kill one exec, and killing the container takes every child of the command with it.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.to_thread

from rustyclaw.adapters.sandbox.container_options import (
    LABEL_INSTANCE,
    LABEL_SCOPE,
    LABEL_SPEC,
    container_name,
    create_kwargs,
    exec_argv,
    spec_fingerprint,
    working_dir,
)
from rustyclaw.adapters.sandbox.engine_client import EngineClient, is_missing
from rustyclaw.adapters.sandbox.output import CappedBuffer, pump_frames
from rustyclaw.domain.errors import SandboxError
from rustyclaw.ports.sandbox import ExecResult, SandboxSpec

SIGKILL_EXIT = 137
_RESTARTED_NOTE = "\n[sandbox: the container was killed because another command in this scope timed out]"


@dataclass
class _Scope:
    container_id: str
    fingerprint: str
    last_used: float
    in_use: int = 0


@dataclass
class _ExecOutcome:
    exit_code: int
    stdout: CappedBuffer
    stderr: CappedBuffer
    timed_out: bool
    killed_by_other: bool = False


class _ContainerGoneError(Exception):
    """The scope's container stopped or vanished between calls; make a new one."""


class DockerSandbox:
    """Runs commands in hardened containers through the Docker Engine API; see `ports.sandbox.Sandbox`.

    `name_prefix` names this instance's containers and labels them, so `prune` only touches its
    own. `kill_grace` bounds the wait for output after a kill before the socket is cut.
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        name_prefix: str = "rustyclaw-sbx",
        api_timeout: float = 60.0,
        kill_grace: float = 5.0,
    ) -> None:
        self._engine = EngineClient(base_url, api_timeout=api_timeout)
        self.name_prefix = name_prefix
        self._kill_grace = kill_grace
        self._scopes: dict[str, _Scope] = {}
        self._locks: dict[str, anyio.Lock] = {}
        self._killed: dict[str, None] = {}

    @property
    def base_url(self) -> str:
        url: str = self._engine.url
        return url

    async def start(self) -> None:
        """Nothing to do: the engine is reached on first use, so the gateway starts without one."""

    async def aclose(self) -> None:
        await self._engine.aclose()

    async def available(self) -> bool:
        answers: bool = await self._engine.ping()
        return answers

    async def run(self, scope_key: str, command: str | list[str], spec: SandboxSpec) -> ExecResult:
        argv = exec_argv(command)
        started = time.monotonic()
        if not spec.reuse:
            outcome = await self._run_fresh(scope_key, argv, spec)
        else:
            outcome = await self._run_reused(scope_key, argv, spec)
        stderr = outcome.stderr.text()
        if outcome.killed_by_other:
            stderr += _RESTARTED_NOTE
        return ExecResult(
            exit_code=outcome.exit_code,
            stdout=outcome.stdout.text(),
            stderr=stderr,
            timed_out=outcome.timed_out,
            oom_killed=(outcome.exit_code == SIGKILL_EXIT and not outcome.timed_out and not outcome.killed_by_other),
            stdout_truncated=outcome.stdout.truncated,
            stderr_truncated=outcome.stderr.truncated,
            duration=time.monotonic() - started,
        )

    async def remove(self, scope_key: str) -> bool:
        async with self._lock_for(scope_key):
            scope = self._scopes.pop(scope_key, None)
            removed = False
            if scope is not None:
                removed = await self._remove_container(scope.container_id)
            # A container of this key may remain from an earlier process.
            return await self._remove_container(container_name(self.name_prefix, scope_key)) or removed

    async def prune(self, idle_seconds: float) -> int:
        client = await self._engine.get()
        listed: list[dict[str, Any]] = await self._engine.call(
            client.api.containers, all=True, filters={"label": f"{LABEL_INSTANCE}={self.name_prefix}"}
        )
        by_id = {scope.container_id: key for key, scope in self._scopes.items()}
        now = time.time()
        removed = 0
        for info in listed:
            container_id = info["Id"]
            key = by_id.get(container_id)
            scope = self._scopes.get(key) if key is not None else None
            if scope is not None and scope.in_use:
                continue
            last_used = scope.last_used if scope is not None else float(info.get("Created") or 0)
            running = str(info.get("State", "")).lower() == "running"
            if running and now - last_used < idle_seconds:
                continue
            if key is not None:
                self._scopes.pop(key, None)
            if await self._remove_container(container_id):
                removed += 1
        # Forget the locks of scopes that have no container and nobody waiting.
        self._locks = {k: lock for k, lock in self._locks.items() if k in self._scopes or lock.locked()}
        return removed

    # -- containers --------------------------------------------------------------------------

    def _lock_for(self, scope_key: str) -> anyio.Lock:
        lock = self._locks.get(scope_key)
        if lock is None:
            lock = self._locks[scope_key] = anyio.Lock()
        return lock

    def _labels(self, scope_key: str, fingerprint: str) -> dict[str, str]:
        return {LABEL_INSTANCE: self.name_prefix, LABEL_SCOPE: scope_key, LABEL_SPEC: fingerprint}

    async def _create(self, name: str, scope_key: str, spec: SandboxSpec, fingerprint: str) -> str:
        client = await self._engine.get()
        kwargs = create_kwargs(spec, name=name, labels=self._labels(scope_key, fingerprint))
        container = await self._engine.call(client.containers.create, spec.image, image=spec.image, **kwargs)
        container_id: str = container.id
        try:
            await self._engine.call(client.api.start, container_id)
            if spec.setup_command:
                outcome = await self._exec(container_id, ["sh", "-c", spec.setup_command], spec)
                if outcome.exit_code != 0 or outcome.timed_out:
                    how = "timed out" if outcome.timed_out else f"exit {outcome.exit_code}"
                    raise SandboxError(f"sandbox setupCommand failed ({how}): {outcome.stderr.text()[-500:].strip()}")
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self._remove_container(container_id)
            raise
        return container_id

    async def _container_for(self, scope_key: str, spec: SandboxSpec) -> _Scope:
        fingerprint = spec_fingerprint(spec)
        async with self._lock_for(scope_key):
            scope = self._scopes.get(scope_key)
            if scope is not None and scope.fingerprint == fingerprint:
                return scope
            if scope is not None:
                self._scopes.pop(scope_key)
                await self._remove_container(scope.container_id)
            name = container_name(self.name_prefix, scope_key)
            container_id = await self._adopt(name, fingerprint)
            if container_id is None:
                container_id = await self._create(name, scope_key, spec, fingerprint)
            scope = self._scopes[scope_key] = _Scope(container_id, fingerprint, time.time())
            return scope

    async def _adopt(self, name: str, fingerprint: str) -> str | None:
        """Reuses a running container of this name and spec left by an earlier process, else removes it."""
        client = await self._engine.get()
        try:
            info: dict[str, Any] = await self._engine.call(client.api.inspect_container, name)
        except SandboxError as exc:
            if isinstance(exc.__cause__, Exception) and is_missing(exc.__cause__):
                return None
            raise
        labels = (info.get("Config") or {}).get("Labels") or {}
        running = bool((info.get("State") or {}).get("Running"))
        ours = labels.get(LABEL_INSTANCE) == self.name_prefix and labels.get(LABEL_SPEC) == fingerprint
        if running and ours:
            return str(info["Id"])
        await self._remove_container(str(info["Id"]))
        return None

    async def _remove_container(self, container_id: str) -> bool:
        client = await self._engine.get()
        try:
            await self._engine.call(client.api.remove_container, container_id, force=True, v=True)
        except SandboxError as exc:
            if isinstance(exc.__cause__, Exception) and is_missing(exc.__cause__):
                return False
            raise
        return True

    async def _kill(self, container_id: str) -> None:
        self._killed[container_id] = None
        while len(self._killed) > 256:
            del self._killed[next(iter(self._killed))]
        client = await self._engine.get()
        try:
            await self._engine.call(client.api.kill, container_id)
        except SandboxError as exc:
            if not (isinstance(exc.__cause__, Exception) and is_missing(exc.__cause__)):
                raise

    # -- running -----------------------------------------------------------------------------

    async def _run_fresh(self, scope_key: str, argv: list[str], spec: SandboxSpec) -> _ExecOutcome:
        name = f"{container_name(self.name_prefix, scope_key)}-{uuid.uuid4().hex[:8]}"
        container_id = await self._create(name, scope_key, spec, spec_fingerprint(spec))
        try:
            return await self._exec(container_id, argv, spec)
        finally:
            with anyio.CancelScope(shield=True):
                await self._remove_container(container_id)

    async def _run_reused(self, scope_key: str, argv: list[str], spec: SandboxSpec) -> _ExecOutcome:
        for attempt in range(2):
            scope = await self._container_for(scope_key, spec)
            scope.in_use += 1
            try:
                outcome = await self._exec(scope.container_id, argv, spec)
            except _ContainerGoneError:
                if self._scopes.get(scope_key) is scope:
                    del self._scopes[scope_key]
                if attempt:
                    raise SandboxError(f"the sandbox container for {scope_key!r} stopped twice in a row") from None
                continue
            except BaseException:
                if scope.container_id in self._killed:
                    self._drop_if_killed(scope_key, scope)
                    with anyio.CancelScope(shield=True):
                        await self._remove_container(scope.container_id)
                raise
            finally:
                scope.in_use -= 1
                scope.last_used = time.time()
            if outcome.timed_out or outcome.killed_by_other:
                self._drop_if_killed(scope_key, scope)
                with anyio.CancelScope(shield=True):
                    await self._remove_container(scope.container_id)
            return outcome
        raise AssertionError("unreachable")

    def _drop_if_killed(self, scope_key: str, scope: _Scope) -> None:
        if scope.container_id in self._killed and self._scopes.get(scope_key) is scope:
            del self._scopes[scope_key]

    async def _exec(self, container_id: str, argv: list[str], spec: SandboxSpec) -> _ExecOutcome:
        client = await self._engine.get()
        api = client.api
        try:
            created = await self._engine.call(
                api.exec_create,
                container_id,
                argv,
                stdout=True,
                stderr=True,
                user=spec.user,
                workdir=working_dir(spec),
            )
        except SandboxError as exc:
            if isinstance(exc.__cause__, Exception) and is_missing(exc.__cause__):
                raise _ContainerGoneError from exc
            raise
        exec_id: str = created["Id"]
        stream = await self._engine.call(api.exec_start, exec_id, socket=True)
        raw: socket.socket = getattr(stream, "_sock", stream)
        # The SDK's read timeout would break a quiet command; our own timeout bounds the wait.
        raw.settimeout(None)
        stdout, stderr = CappedBuffer(spec.max_output_bytes), CappedBuffer(spec.max_output_bytes)
        finished = threading.Event()

        def read_all() -> None:
            try:
                pump_frames(stream, stdout, stderr)
            finally:
                finished.set()

        timed_out = False
        try:
            with anyio.move_on_after(spec.timeout) as deadline:
                await anyio.to_thread.run_sync(read_all, abandon_on_cancel=True)
            if deadline.cancelled_caught:
                timed_out = True
                await self._kill(container_id)
        except BaseException:
            # Cancelled by the caller (e.g. /stop): the command must not outlive the turn.
            with anyio.CancelScope(shield=True):
                await self._kill(container_id)
                await self._finish_reader(finished, raw, stream)
            raise
        await self._finish_reader(finished, raw, stream)
        exit_code = await self._exit_code(exec_id, timed_out)
        killed_by_other = not timed_out and container_id in self._killed
        return _ExecOutcome(exit_code, stdout, stderr, timed_out, killed_by_other)

    async def _finish_reader(self, finished: threading.Event, raw: socket.socket, stream: Any) -> None:
        if not finished.is_set() and not await anyio.to_thread.run_sync(finished.wait, self._kill_grace):
            with contextlib.suppress(OSError):
                raw.shutdown(socket.SHUT_RDWR)
            await anyio.to_thread.run_sync(finished.wait, self._kill_grace)
        # The upgraded connection is never reused: close the file object and the socket under it.
        with contextlib.suppress(OSError):
            stream.close()
        with contextlib.suppress(OSError):
            raw.close()

    async def _exit_code(self, exec_id: str, timed_out: bool) -> int:
        client = await self._engine.get()
        for _ in range(100):
            try:
                info: dict[str, Any] = await self._engine.call(client.api.exec_inspect, exec_id)
            except SandboxError:
                if timed_out:
                    return SIGKILL_EXIT
                raise
            code = info.get("ExitCode")
            if not info.get("Running") and code is not None:
                return SIGKILL_EXIT if timed_out and code == 0 else int(code)
            await anyio.sleep(0.02)
        if timed_out:
            return SIGKILL_EXIT
        raise SandboxError("the container engine never reported the command's exit code")
