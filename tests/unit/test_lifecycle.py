"""The one lifecycle: start in order, stop in reverse, always; a failed start names the component."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import pytest

from rustyclaw.lifecycle import Lifecycle, Ready, ServiceFailed, StartupError

pytestmark = pytest.mark.anyio


def recording(log: list[str], name: str, fail_start: bool = False) -> tuple[Callable[[], object], ...]:
    async def start() -> None:
        log.append(f"start {name}")
        if fail_start:
            raise OSError(f"{name} cannot open its file")

    async def stop() -> None:
        log.append(f"stop {name}")

    return start, stop


async def test_components_start_in_order_and_stop_in_reverse() -> None:
    log: list[str] = []
    life = Lifecycle()
    for name in ("lock", "store", "model"):
        life.step(name, *recording(log, name))
    async with life:
        log.append("running")
    assert log == ["start lock", "start store", "start model", "running", "stop model", "stop store", "stop lock"]


async def test_a_failed_start_stops_what_started_and_names_the_component() -> None:
    log: list[str] = []
    life = Lifecycle()
    life.step("store", *recording(log, "store"))
    life.step("plugins", *recording(log, "plugins", fail_start=True))
    life.step("http", *recording(log, "http"))
    with pytest.raises(StartupError, match="plugins did not start: plugins cannot open its file") as caught:
        async with life:
            log.append("never")
    assert caught.value.component == "plugins"
    assert log == ["start store", "start plugins", "stop store"]


async def test_an_error_while_running_still_stops_everything() -> None:
    log: list[str] = []
    life = Lifecycle()
    life.step("store", *recording(log, "store"))
    with pytest.raises(RuntimeError):
        async with life:
            raise RuntimeError("the command failed")
    assert log == ["start store", "stop store"]


async def test_a_failing_stop_does_not_leave_the_others_running() -> None:
    log: list[str] = []

    async def bad_stop() -> None:
        raise OSError("disk gone")

    life = Lifecycle()
    life.step("store", *recording(log, "store"))
    life.step("audit", None, bad_stop)
    async with life:
        pass
    assert log == ["start store", "stop store"]


async def test_a_service_is_started_when_ready_and_cancelled_on_stop() -> None:
    log: list[str] = []

    async def serve(ready: Ready) -> None:
        log.append("listening")
        ready()
        try:
            await anyio.sleep_forever()
        finally:
            log.append("service cancelled")

    async def graceful() -> None:
        log.append("graceful stop")

    life = Lifecycle()
    life.step("store", *recording(log, "store"))
    life.service("http", serve, stop=graceful)
    async with life:
        log.append("running")
    assert log == ["start store", "listening", "running", "graceful stop", "service cancelled", "stop store"]


async def test_a_service_that_cannot_start_is_a_startup_error() -> None:
    log: list[str] = []

    async def serve(ready: Ready) -> None:
        raise OSError("address already in use")

    life = Lifecycle()
    life.step("store", *recording(log, "store"))
    life.service("http", serve)
    with pytest.raises(StartupError, match="http did not start: address already in use"):
        async with life:
            pass
    assert log == ["start store", "stop store"]


async def test_a_service_dying_later_stops_the_lifecycle_with_its_error() -> None:
    gate = anyio.Event()

    async def serve(ready: Ready) -> None:
        ready()
        await gate.wait()
        raise ConnectionError("worker died")

    life = Lifecycle()
    life.service("http", serve)
    with pytest.raises(ServiceFailed, match="http failed: worker died"):
        async with life:
            gate.set()
            await life.wait_stopped()


async def test_components_cannot_be_added_twice_or_after_the_start() -> None:
    life = Lifecycle()
    life.step("store")
    with pytest.raises(ValueError, match="added twice"):
        life.step("store")
    async with life:
        with pytest.raises(RuntimeError, match="has started"):
            life.step("late")


class Supervisor:
    """A context that runs a task group while entered, as the channel supervisor does."""

    def __init__(self, log: list[str]) -> None:
        self.log = log
        self.group = anyio.create_task_group()

    async def __aenter__(self) -> Supervisor:
        await self.group.__aenter__()
        self.group.start_soon(anyio.sleep_forever)
        self.log.append("channels up")
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.group.cancel_scope.cancel()
        await self.group.__aexit__(*exc)  # as ChannelSupervisor does: the exception goes to its group
        self.log.append("channels down")


async def test_a_failure_after_a_context_with_a_task_group_is_still_one_plain_error() -> None:
    log: list[str] = []

    async def serve(ready: Ready) -> None:
        raise OSError("address already in use")

    life = Lifecycle()
    life.context("channels", Supervisor(log))
    life.service("http", serve)
    with pytest.raises(StartupError, match="http did not start"):  # not an exception group
        async with life:
            pass
    assert log == ["channels up", "channels down"]
    again = Lifecycle()
    again.context("channels", Supervisor(log))
    with pytest.raises(KeyError):  # an error of the command passes through unchanged
        async with again:
            raise KeyError("x")
