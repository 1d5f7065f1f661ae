"""One lifecycle for every command: components start in order and stop in reverse, always.

The composition root (rustyclaw/bootstrap.py) adds each component once, in dependency order:

    life = Lifecycle()
    life.step("store", store.start, store.aclose)              # start()/aclose() pairs
    life.context("channels", supervisor)                        # async context managers
    life.service("http", run_http, stop=http.aclose)            # long-running tasks that say when ready
    async with life:                                            # starts them in that order
        await life.wait_stopped()                                # until stop(), a signal or a failure
    # leaving the block stops every started component in reverse order, even after an error

A component that fails to start stops those started before it and raises `StartupError`
naming it and the cause, so a command exits non-zero within seconds instead of hanging on a
half-started process (an open SQLite thread keeps Python alive). A service that dies after it
started stops the whole lifecycle; `wait_stopped()` then raises its error.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from dataclasses import dataclass
from types import TracebackType

import anyio
import anyio.abc

from rustyclaw.domain.errors import RustyClawError

log = logging.getLogger("rustyclaw.lifecycle")

Ready = Callable[[], None]
Service = Callable[[Ready], Awaitable[None]]
Action = Callable[[], Awaitable[object]]


class StartupError(RustyClawError):
    """A component did not start; the message names the component and the cause."""

    def __init__(self, component: str, cause: BaseException) -> None:
        reason = str(cause) or type(cause).__name__
        super().__init__(f"{component} did not start: {reason}")
        self.component = component
        self.cause = cause


class ServiceFailed(RustyClawError):
    """A service that had started stopped on its own with an error."""

    def __init__(self, component: str, cause: BaseException) -> None:
        super().__init__(f"{component} failed: {str(cause) or type(cause).__name__}")
        self.component = component
        self.cause = cause


@dataclass(frozen=True, slots=True)
class _Step:
    name: str
    kind: str  # "step" | "context" | "service"
    start: Action | None = None
    stop: Action | None = None
    context: AbstractAsyncContextManager[object] | None = None
    run: Service | None = None


class Lifecycle:
    """Ordered components of one process; see the module docstring. Use once."""

    def __init__(self) -> None:
        self._steps: list[_Step] = []
        self._stack: AsyncExitStack | None = None
        self._stopping = anyio.Event()
        self._failure: ServiceFailed | None = None
        self.started: list[str] = []

    @property
    def names(self) -> list[str]:
        return [s.name for s in self._steps]

    def step(self, name: str, start: Action | None = None, stop: Action | None = None) -> None:
        """A component with an async `start` and/or an async `stop` (either may be None).

        `stop` runs shielded from cancellation. A component that opens a task group in `start`
        must be a `context` or a `service` instead (a task group is exited from its own scope).
        """
        self._add(_Step(name, "step", start=start, stop=stop))

    def context(self, name: str, manager: AbstractAsyncContextManager[object]) -> None:
        """A component that is an async context manager: entered to start, exited to stop."""
        self._add(_Step(name, "context", context=manager))

    def service(self, name: str, run: Service, stop: Action | None = None) -> None:
        """A long-running task: `run(ready)` calls `ready()` once it serves, then runs until cancelled.

        Stopping calls `stop()` first (a graceful stop, when given), then cancels the task.
        """
        self._add(_Step(name, "service", run=run, stop=stop))

    def _add(self, step: _Step) -> None:
        if self._stack is not None:
            raise RuntimeError(f"cannot add {step.name!r}: the lifecycle has started")
        if step.name in self.names:
            raise ValueError(f"component {step.name!r} is added twice")
        self._steps.append(step)

    def stop(self) -> None:
        """Asks `wait_stopped()` to return (from a signal handler, a command, a test)."""
        self._stopping.set()

    async def wait_stopped(self) -> None:
        """Waits for `stop()` or a failed service (then raises ServiceFailed)."""
        await self._stopping.wait()
        if self._failure is not None:
            raise self._failure

    async def __aenter__(self) -> Lifecycle:
        stack = AsyncExitStack()
        self._stack = stack
        await stack.__aenter__()
        try:
            for step in self._steps:
                try:
                    await self._start(stack, step)
                except StartupError:
                    raise
                except Exception as exc:
                    raise StartupError(step.name, exc) from exc
                self.started.append(step.name)
        except BaseException as exc:
            # Stops what did start (in reverse) before the error leaves; a cancelled start too.
            # Each stop shields itself: a shield around the whole unwinding would sit on top of the
            # services' task groups, which must be exited from their own cancel scope.
            await stack.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        stack, self._stack = self._stack, None
        if stack is None:
            return
        await stack.__aexit__(exc_type, exc, tb)

    async def _start(self, stack: AsyncExitStack, step: _Step) -> None:
        if step.kind == "step":
            if step.start is not None:
                await step.start()
            if step.stop is not None:
                stack.push_async_callback(self._stopper(step.name, step.stop))
        elif step.kind == "context":
            manager = step.context
            assert manager is not None
            await manager.__aenter__()
            # Exited as on a normal stop: a context holding a task group would turn the command's
            # own error into an exception group (and a start-up error into a traceback).
            stack.push_async_callback(manager.__aexit__, None, None, None)
        else:
            await self._start_service(stack, step)

    def _stopper(self, name: str, stop: Action) -> Action:
        async def run_stop() -> None:
            log.debug("stopping %s", name)
            with anyio.CancelScope(shield=True):
                try:
                    await stop()
                except Exception as exc:  # one component's failed stop must not leave the others running
                    log.error("stopping %s failed: %s", name, exc)

        return run_stop

    async def _start_service(self, stack: AsyncExitStack, step: _Step) -> None:
        assert step.run is not None
        run = step.run
        ready = anyio.Event()
        early: list[BaseException] = []

        async def body() -> None:
            try:
                await run(ready.set)
            except Exception as exc:  # reported to the lifecycle, never as an exception group
                if not ready.is_set():
                    early.append(exc)
                    ready.set()
                    return
                log.error("%s failed: %s", step.name, exc)
                if self._failure is None:
                    self._failure = ServiceFailed(step.name, exc)
                self._stopping.set()

        group = anyio.create_task_group()
        await group.__aenter__()
        group.start_soon(body, name=step.name)
        await ready.wait()
        if early:
            await group.__aexit__(None, None, None)  # the body has returned
            raise StartupError(step.name, early[0]) from early[0]
        # Closed without the unwinding's exception: the service's task is cancelled, not failed, and
        # an error of the command passes through unchanged (never as an exception group).
        stack.push_async_callback(self._close_group, group)
        if step.stop is not None:
            stack.push_async_callback(self._stopper(step.name, step.stop))

    @staticmethod
    async def _close_group(group: anyio.abc.TaskGroup) -> None:
        group.cancel_scope.cancel()
        await group.__aexit__(None, None, None)
