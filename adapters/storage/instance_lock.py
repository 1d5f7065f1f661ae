"""One gateway per state folder: an exclusive flock on `<stateDir>/gateway.lock`, held while serving.

Two gateways on one folder would both run cron (one crashes renaming `cron/jobs.json.tmp`), both
poll the same bot and keep two histories of one session. The lock is taken before anything else
starts and released by the kernel when the process ends, however it ends, so a crash leaves no
stale lock. The file holds the owner's pid, only to name it in the refusal.

Replicas on a shared PostgreSQL (several gateways, one elected leader for polling and cron) are a
later, deliberate mode: it is the one place where this lock is skipped (`Serving.add_instance_lock`).
"""

from __future__ import annotations

import os
from pathlib import Path

from rustyclaw.adapters.storage.filelocks import open_lock_file, try_flock
from rustyclaw.domain.errors import ConfigError

LOCK_NAME = "gateway.lock"


class InstanceLockError(ConfigError):
    """Another gateway holds the state folder."""


class InstanceLock:
    """`acquire()` takes the folder or raises InstanceLockError at once (it never waits)."""

    def __init__(self, state_dir: Path) -> None:
        self.path = Path(state_dir).expanduser() / LOCK_NAME
        self._fd: int | None = None

    async def acquire(self) -> None:
        if self._fd is not None:
            return
        fd = open_lock_file(self.path)
        if not try_flock(fd):
            owner = _read_owner(fd)
            os.close(fd)
            who = f" (pid {owner})" if owner else ""
            raise InstanceLockError(
                f"another rustyclaw gateway{who} is using the state folder {self.path.parent} "
                f"(lock file {self.path}); stop it first, or give this one its own gateway.stateDir"
            )
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    async def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing the descriptor releases the flock


def _read_owner(fd: int) -> str:
    try:
        return os.pread(fd, 32, 0).decode(errors="replace").strip()
    except OSError:
        return ""
