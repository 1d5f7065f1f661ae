"""The gateway's Dockerfile, built with podman from the locally made base (no registry), and run.

The base (localhost/rustyclaw-base:bookworm) comes from scripts/services.d/25-rustyclaw-base.sh;
this test builds it the same way when it is missing. Layers are cached by the engine, so a warm run
only re-runs the `pip install --no-deps .` layer when the source changed.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fixtures.llm_servers import free_port

ROOT = Path(__file__).resolve().parents[2]
BASE_IMAGE = "localhost/rustyclaw-base:bookworm"
IMAGE = "localhost/rustyclaw:ci"
TOKEN = "container-test-token-0123456789abcdef"


def _engine_url() -> str:
    return os.environ.get("DOCKER_HOST", "unix:///run/rustyclaw-podman.sock")


def podman(*args: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess[str]:
    # The remote client talks to the suite's engine, so images land in its storage and cache.
    return subprocess.run(["podman", "--remote", "--url", _engine_url(), *args], capture_output=True,
                          text=True, timeout=timeout, check=check)


@pytest.fixture(scope="module")
def image() -> str:
    if podman("image", "exists", BASE_IMAGE, check=False).returncode != 0:
        subprocess.run(["bash", str(ROOT / "scripts/services.d/25-rustyclaw-base.sh")], check=True, timeout=600)
    # The host's CA bundle (it may trust an egress proxy) goes in as a build secret, not a layer.
    cert = Path(os.environ.get("PIP_CERT", "/etc/ssl/certs/ca-certificates.crt"))
    secret = ["--secret", f"id=pip_cert,src={cert}"] if cert.is_file() else []
    built = podman("build", "--format", "docker", *secret, "--build-arg", f"BASE={BASE_IMAGE}", "-t", IMAGE,
                   str(ROOT), check=False)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    return IMAGE


@pytest.fixture
def container(image: str) -> Iterator[tuple[str, int]]:
    name = f"rustyclaw-test-{uuid.uuid4().hex[:10]}"
    port = free_port()
    # The model URL points at a closed port: /readyz still answers 200 (detail in the body).
    podman("run", "-d", "--name", name, "-p", f"127.0.0.1:{port}:18789",
           "-e", f"RUSTYCLAW_TOKEN={TOKEN}", "-e", "RUSTYCLAW_LLM_URL=http://127.0.0.1:9/v1", image)
    try:
        yield name, port
    finally:
        podman("rm", "-f", name, check=False)


def test_image_config_is_non_root_with_healthcheck_and_volumes(image: str) -> None:
    inspected = json.loads(podman("image", "inspect", image).stdout)[0]
    config = inspected["Config"]
    assert config["User"] == "rustyclaw:rustyclaw"
    assert set(config["Volumes"]) == {"/etc/rustyclaw", "/var/lib/rustyclaw"}
    assert "18789/tcp" in config["ExposedPorts"]
    assert config["Cmd"][:2] == ["rustyclaw", "serve"]
    # podman reports the docker-format HEALTHCHECK beside Config, not in it.
    assert "/readyz" in " ".join(inspected["Healthcheck"]["Test"])


def test_container_becomes_healthy_and_serves_readyz(container: tuple[str, int]) -> None:
    name, port = container
    deadline = time.monotonic() + 60
    health = None
    while time.monotonic() < deadline:
        # Runs the image's own HEALTHCHECK command inside the container (no systemd timers here).
        health = podman("healthcheck", "run", name, check=False)
        if health.returncode == 0:
            break
        state = json.loads(podman("inspect", name).stdout)[0]["State"]
        assert state["Running"], podman("logs", name, check=False).stderr[-3000:]
        time.sleep(0.5)  # poll interval of a deadline-bounded wait
    assert health is not None and health.returncode == 0, podman("logs", name, check=False).stderr[-3000:]
    uid = podman("exec", name, "id", "-u").stdout.strip()
    assert uid != "0" and uid == "10001"
    ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
    assert ready.status_code == 200
    assert "model" in ready.json()
