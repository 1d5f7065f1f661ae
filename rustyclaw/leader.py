"""Leader duties under `gateway.replicas`: what must run on one replica at a time, with failover.

`LeaderDuties` is one lifecycle service (named "leader") that holds a `LeaderLease` and runs the
duties added to it (Telegram long polling and the Discord gateway through their own channel
supervisor, cron, sandbox pruning) while, and only while, this replica holds the lease:

- every `ttl/3` it takes or renews the lease; a follower tries as often, so it takes over within
  one interval of the lease expiring (a dead leader: within ttl + ttl/3);
- it counts the lease as its own until `ttl` after the renewal was *sent* (the database computes
  the expiry on receipt, later), so it stops its duties before any other replica may start them;
- a renewal refused (another replica has the lease) or not answered by that deadline cancels the
  duties at once; they start again, fresh, when the lease is won back;
- a clean stop (SIGTERM) cancels the duties and releases the lease, so the next leader need not
  wait for the expiry; a crash leaves the lease to expire.

A duty that fails stops the gateway, as it does without replicas (the lifecycle reports it).
Without replicas no `LeaderDuties` exists: the duties are ordinary lifecycle services.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import anyio
import anyio.abc

from rustyclaw.domain.errors import StorageError
from rustyclaw.lifecycle import Ready, Service, ServiceFailed
from rustyclaw.ports.leader_lease import LeaderLease

log = logging.getLogger("rustyclaw.leader")


@dataclass(frozen=True, slots=True)
class _Duty:
    name: str
    run: Service


class LeaderDuties:
    """Runs `add()`ed duties while `lease` is held; see the module docstring."""

    def __init__(self, lease: LeaderLease, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._lease = lease
        self._monotonic = monotonic
        self._interval = lease.ttl_seconds / 3
        self._duties: list[_Duty] = []
        self._leading = False
        self._term: int | None = None
        self._deadline = 0.0
        self._term_scope: anyio.CancelScope | None = None
        self._term_done: anyio.Event | None = None
        self._loop_scope: anyio.CancelScope | None = None
        self._loop_done: anyio.Event | None = None
        self._stopping = False
        self._released = False
        self._failure: ServiceFailed | None = None
        self._wake = anyio.Event()
        self._changed = anyio.Event()
        self.terms_led = 0  # how many times this replica became the leader (logs, tests)
        self.renewals = 0  # lease renewals granted while leading (tests wait on their count)

    # -- what the rest of the process sees ---------------------------------------------------------
    @property
    def names(self) -> list[str]:
        return [duty.name for duty in self._duties]

    @property
    def leading(self) -> bool:
        return self._leading

    @property
    def holder(self) -> str:
        return self._lease.holder

    @property
    def term(self) -> int | None:
        return self._term if self._leading else None

    def add(self, name: str, run: Service) -> None:
        """A duty: `run(ready)` like a lifecycle service; it is cancelled when the lease is lost."""
        if name in self.names:
            raise ValueError(f"leader duty {name!r} is added twice")
        self._duties.append(_Duty(name, run))

    async def wait_changed(self) -> None:
        """Returns at the next change of leadership or lease renewal (tests and status waits)."""
        await self._changed.wait()

    def report(self) -> dict[str, object]:
        """The `/readyz` field: whether this replica leads, and as whom."""
        # Not the holder id: /readyz answers without a token, and it names the host and pid.
        return {"leader": self._leading, "term": self.term}

    # -- the lifecycle service ---------------------------------------------------------------------
    async def run(self, ready: Ready) -> None:
        """Elects and leads until `stop()` (or cancellation); ready after the first attempt."""
        self._loop_done = anyio.Event()
        first_error: StorageError | None = None
        try:
            await self._lease.start()
            with anyio.CancelScope() as self._loop_scope:
                async with anyio.create_task_group() as group:
                    # Errors leave through variables, not from inside the group: the lifecycle
                    # reports a duty's own error, never an exception group.
                    try:
                        try:
                            await self._round(group, first=True)
                        except StorageError as exc:  # at start-up a start-up error, not a warning
                            first_error = exc
                        else:
                            ready()
                            while self._failure is None:
                                await self._pause()
                                if self._failure is None:
                                    await self._round(group, first=False)
                    finally:
                        await self._step_down("stopping" if self._stopping else None)
                        group.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                if self._stopping and self.terms_led:  # a replica that never led has nothing to give up
                    await self._release()
                await self._lease.aclose()
            self._loop_done.set()
        if first_error is not None:
            raise first_error
        if self._failure is not None:
            raise self._failure

    async def stop(self) -> None:
        """A clean stop: the duties end, the lease is released for the next leader at once."""
        self._stopping = True
        self._wake.set()
        if self._loop_scope is not None:
            self._loop_scope.cancel()
        if self._loop_done is not None:
            await self._loop_done.wait()
        if self._loop_done is not None and self.terms_led and not self._released:
            # The loop had ended on a failed duty: released, the next leader need not wait.
            with anyio.CancelScope(shield=True):
                await self._release()
                await self._lease.aclose()

    # -- one election round ------------------------------------------------------------------------
    async def _round(self, group: anyio.abc.TaskGroup, *, first: bool) -> None:
        if self._leading and self._monotonic() >= self._deadline:
            await self._step_down(f"the lease was not renewed within {self._lease.ttl_seconds:g} s")
        # A leader's attempt may take until its deadline; a follower's until the next round.
        budget = self._deadline - self._monotonic() if self._leading else self._interval
        sent = self._monotonic()
        error: str | None = None
        grant = None
        with anyio.move_on_after(max(budget, 0.0)) as attempt:
            try:
                grant = await self._lease.acquire()
            except StorageError as exc:
                if first:
                    raise
                error = str(exc)
        if attempt.cancelled_caught:
            error = f"no answer within {budget:.1f} s"
        if error is not None:
            log.warning("leader lease %r: %s", self._lease.name, error)
            if self._leading and self._monotonic() >= self._deadline:
                await self._step_down(f"the lease was not renewed within {self._lease.ttl_seconds:g} s")
            return
        if grant is None:
            if self._leading:
                await self._step_down("another replica holds the lease")
            return
        self._deadline = sent + self._lease.ttl_seconds
        if self._leading and grant.term == self._term:
            self.renewals += 1
            self._notify()
            return
        if self._leading:  # the lease changed hands in between: the old leadership is over
            await self._step_down(f"the lease moved to term {grant.term}")
        self._start_term(group, grant.term)

    def _start_term(self, group: anyio.abc.TaskGroup, term: int) -> None:
        self._leading = True
        self._term = term
        self.terms_led += 1
        scope = anyio.CancelScope()
        done = anyio.Event()
        self._term_scope, self._term_done = scope, done
        log.info("leader: this replica (%s) leads %r, term %d; starting %s", self._lease.holder,
                 self._lease.name, term, ", ".join(self.names) or "no duties")
        group.start_soon(self._lead, scope, done, name=f"leader-term-{term}")
        self._notify()

    async def _lead(self, scope: anyio.CancelScope, done: anyio.Event) -> None:
        try:
            with scope:
                async with anyio.create_task_group() as duties:
                    for duty in self._duties:
                        duties.start_soon(self._run_duty, duty, name=f"leader:{duty.name}")
        finally:
            done.set()

    async def _run_duty(self, duty: _Duty) -> None:
        try:
            await duty.run(lambda: log.debug("leader duty %s running", duty.name))
        except Exception as exc:  # reported through the election loop, never as an exception group
            log.error("leader duty %s failed: %s", duty.name, exc)
            if self._failure is None:
                self._failure = ServiceFailed(duty.name, exc)
            self._wake.set()

    async def _step_down(self, reason: str | None) -> None:
        scope, done = self._term_scope, self._term_done
        self._term_scope = self._term_done = None
        was_leading, self._leading = self._leading, False
        if scope is not None:
            scope.cancel()  # at once: no duty may run past the lease
        if was_leading and reason is not None:
            log.log(logging.INFO if self._stopping else logging.WARNING,
                    "leader: this replica (%s) stopped leading %r: %s", self._lease.holder, self._lease.name, reason)
        if done is not None:
            with anyio.CancelScope(shield=True):
                await done.wait()  # the duties' own cleanup (channels closing) is done before a new term
        if was_leading:
            self._notify()

    async def _pause(self) -> None:
        wait = self._interval
        if self._leading:
            wait = min(wait, max(self._deadline - self._monotonic(), 0.0))
        with anyio.move_on_after(wait):
            await self._wake.wait()
        if self._wake.is_set() and self._failure is None and not self._stopping:
            self._wake = anyio.Event()

    async def _release(self) -> None:
        self._released = True
        with anyio.move_on_after(self._lease.ttl_seconds):
            try:
                await self._lease.release()
                log.info("leader: released %r", self._lease.name)
            except StorageError as exc:  # it expires on its own
                log.warning("leader: releasing %r failed: %s", self._lease.name, exc)

    def _notify(self) -> None:
        changed, self._changed = self._changed, anyio.Event()
        changed.set()
