"""The `docker` SDK at arm's length: lazy import, engine URL, worker threads, error translation."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import anyio.to_thread

from rustyclaw.domain.errors import MissingExtraError, SandboxError, SandboxUnavailableError

if TYPE_CHECKING:
    import docker

PODMAN_SOCKET = "/run/rustyclaw-podman.sock"
PODMAN_URL = f"unix://{PODMAN_SOCKET}"
DOCKER_URL = "unix:///var/run/docker.sock"

T = TypeVar("T")


def resolve_base_url(base_url: str | None = None, env: Mapping[str, str] | None = None) -> str:
    """The engine URL: explicit, else DOCKER_HOST, else RustyClaw's podman socket if present,
    else Docker's."""
    if base_url:
        return base_url
    source = os.environ if env is None else env
    if source.get("DOCKER_HOST"):
        return source["DOCKER_HOST"]
    return PODMAN_URL if os.path.exists(PODMAN_SOCKET) else DOCKER_URL


def unavailable_message(url: str) -> str:
    return f"no container engine answers at {url}: start Docker or podman (see rustyclaw sandbox doctor)"


def import_docker() -> Any:
    try:
        import docker
    except ImportError as exc:
        raise MissingExtraError("docker", "sandbox", "The code sandbox") from exc
    return docker


def translate(exc: BaseException, url: str, image: str | None = None) -> SandboxError:
    """Maps an SDK, requests or socket failure to the project's error tree."""
    import requests.exceptions

    docker_errors = import_docker().errors
    if isinstance(exc, docker_errors.ImageNotFound) or (
        image is not None and isinstance(exc, docker_errors.NotFound) and "image" in str(exc).lower()
    ):
        return SandboxError(
            f"sandbox image {image or ''!r} is not present in the engine at {url}: build it with "
            "`rustyclaw sandbox build-image` (no registry is used)"
        )
    if isinstance(exc, docker_errors.APIError):
        detail = exc.explanation or str(exc)
        return SandboxError(f"the container engine at {url} refused: {detail}")
    if isinstance(exc, requests.exceptions.RequestException | OSError | docker_errors.DockerException):
        return SandboxUnavailableError(unavailable_message(url))
    return SandboxError(f"container engine call failed: {exc!r}")


_NOT_RUNNING = ("not running", "state improper", "is paused", "no such container")


def is_missing(exc: BaseException) -> bool:
    """True when the engine says a container is gone or no longer running.

    Docker answers 404/409; podman answers 500 "container state improper" for an exec in a
    stopped container.
    """
    docker_errors = import_docker().errors
    if not isinstance(exc, docker_errors.APIError):
        return False
    text = str(exc.explanation or exc).lower()
    return exc.status_code in (404, 409) or any(marker in text for marker in _NOT_RUNNING)


class EngineClient:
    """One `docker.DockerClient`, created on first use (so a missing engine never stops the gateway)."""

    def __init__(self, base_url: str | None = None, *, api_timeout: float = 60.0) -> None:
        self.url = resolve_base_url(base_url)
        self._api_timeout = api_timeout
        self._client: docker.DockerClient | None = None
        self._lock = anyio.Lock()

    async def get(self) -> docker.DockerClient:
        if self._client is not None:
            return self._client
        async with self._lock:
            if self._client is None:
                if not await self._socket_answers():
                    raise SandboxUnavailableError(unavailable_message(self.url))
                docker_mod = import_docker()

                def connect() -> docker.DockerClient:
                    # version="auto" asks the engine once; pinning would break on engines whose
                    # minimum API version moved past ours.
                    client: docker.DockerClient = docker_mod.DockerClient(
                        base_url=self.url, version="auto", timeout=self._api_timeout
                    )
                    return client

                self._client = await self.call(connect)
        return self._client

    async def call(self, fn: Callable[..., T], *args: Any, image: str | None = None, **kwargs: Any) -> T:
        """Runs a blocking SDK call in a worker thread; failures come back as SandboxError."""

        def invoke() -> T:
            return fn(*args, **kwargs)

        try:
            return await anyio.to_thread.run_sync(invoke)
        except SandboxError:
            raise
        except Exception as exc:
            raise translate(exc, self.url, image) from exc

    async def _socket_answers(self) -> bool:
        """For unix sockets, a plain connect first: the SDK leaks its socket when the connect fails."""
        if not self.url.startswith("unix://"):
            return True
        path = self.url[len("unix://") :]

        def connect() -> bool:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
                probe.settimeout(2.0)
                try:
                    probe.connect(path)
                except OSError:
                    return False
            return True

        return await anyio.to_thread.run_sync(connect)

    def _plain_ping(self) -> bool | None:
        """GET /_ping with the standard library (no SDK import, so no memory cost while idle).

        None when the URL needs the SDK (TLS, ssh).
        """
        target: str | tuple[str, int]
        if self.url.startswith("unix://"):
            family, target = socket.AF_UNIX, self.url[len("unix://") :]
        elif self.url.startswith(("tcp://", "http://")):
            host, _, port = self.url.split("://", 1)[1].rstrip("/").rpartition(":")
            if not host or not port.isdigit():
                return None
            family, target = socket.AF_INET6 if ":" in host else socket.AF_INET, (host.strip("[]"), int(port))
        else:
            return None
        try:
            with socket.socket(family, socket.SOCK_STREAM) as conn:
                conn.settimeout(3.0)
                conn.connect(target)
                conn.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
                status = conn.recv(64).split(b"\r\n", 1)[0]
        except OSError:
            return False
        return status.startswith(b"HTTP/") and b" 200" in status

    async def ping(self) -> bool:
        plain = await anyio.to_thread.run_sync(self._plain_ping)
        if plain is not None:
            return plain
        try:
            client = await self.get()
            return bool(await self.call(client.ping))
        except SandboxError:
            return False

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await anyio.to_thread.run_sync(client.close)
