"""Building sandbox images without a registry, and `sandbox doctor`, on the real engine."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from rustyclaw.adapters.sandbox.docker_engine import DockerSandbox
from rustyclaw.adapters.sandbox.doctor import doctor
from rustyclaw.adapters.sandbox.engine_client import EngineClient
from rustyclaw.adapters.sandbox.image import DEFAULT_CACHE, build_image
from rustyclaw.ports.sandbox import SandboxSpec

pytestmark = pytest.mark.anyio


@pytest.fixture
async def scratch_tag(sandbox_engine_url: str) -> AsyncIterator[str]:
    """A unique image tag, removed from the engine afterwards."""
    tag = f"rustyclaw-test-image:{uuid.uuid4().hex[:10]}"
    yield tag
    engine = EngineClient(sandbox_engine_url)
    try:
        client = await engine.get()
        await engine.call(client.api.remove_image, tag, force=True)
    finally:
        await engine.aclose()


async def test_busybox_image_builds_and_runs(
    sandbox_engine_url: str, scratch_tag: str, docker_sandbox: DockerSandbox
) -> None:
    built = await build_image("busybox", base_url=sandbox_engine_url, tag=scratch_tag)
    assert built.tag == scratch_tag and built.image_id.startswith("sha256:") and built.size_bytes > 500_000
    spec = SandboxSpec(image=scratch_tag, reuse=False, memory=64 * 1024**2)
    result = await docker_sandbox.run("img", "id; echo $PATH; pwd; touch /tmp/ok && echo tmp-ok", spec)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("uid=1000(sandbox) gid=1000(sandbox)")  # the image's /etc/passwd
    assert lines[1:] == ["/bin", "/tmp", "tmp-ok"]


@pytest.mark.slow
async def test_python_image_builds_and_runs(
    sandbox_engine_url: str, scratch_tag: str, docker_sandbox: DockerSandbox
) -> None:
    # Uses the rootfs tar cached by scripts/services.d/20-podman.sh when present (a few seconds);
    # otherwise runs mmdebstrap (about 30 s to 2 min depending on the mirror).
    built = await build_image("python", base_url=sandbox_engine_url, tag=scratch_tag, cache_dir=DEFAULT_CACHE)
    assert built.size_bytes > 20_000_000
    spec = SandboxSpec(image=scratch_tag, reuse=False)
    result = await docker_sandbox.run(
        "py", ["python3", "-c", "import os, sys; print(sys.version_info[0], os.getuid())"], spec
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "3 1000\n"


async def test_doctor_on_a_live_engine(sandbox_engine_url: str) -> None:
    checks = await doctor(sandbox_engine_url, "rustyclaw-busybox:latest")
    assert [c.check for c in checks] == ["engine answers", "API version", "image present", "trivial run works"]
    assert all(c.ok for c in checks), checks
    assert "API 1." in checks[1].detail and "uid 1000" in checks[3].detail


async def test_doctor_names_a_missing_image(sandbox_engine_url: str) -> None:
    checks = await doctor(sandbox_engine_url, "rustyclaw-no-such-image:never")
    assert [(c.check, c.ok) for c in checks] == [
        ("engine answers", True),
        ("API version", True),
        ("image present", False),
    ]
    assert "build-image" in checks[-1].detail


async def test_doctor_without_an_engine(tmp_path: Path) -> None:
    url = f"unix://{tmp_path}/absent.sock"
    checks = await doctor(url)
    assert len(checks) == 1 and not checks[0].ok
    assert checks[0].detail.startswith(f"no container engine answers at {url}")
