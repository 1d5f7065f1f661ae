"""`rustyclaw sandbox doctor`: is there an engine, which one, is the image there, does a run work."""

from __future__ import annotations

from typing import Any, NamedTuple

from rustyclaw.adapters.sandbox.docker_engine import DockerSandbox
from rustyclaw.adapters.sandbox.engine_client import EngineClient, unavailable_message
from rustyclaw.domain.errors import RustyClawError, SandboxError
from rustyclaw.ports.sandbox import DEFAULT_IMAGE, SandboxSpec

MIN_API_VERSION = (1, 40)


class Check(NamedTuple):
    check: str
    ok: bool
    detail: str


def _version_tuple(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split("."))
    except ValueError:
        return ()


async def doctor(base_url: str | None = None, image: str = DEFAULT_IMAGE) -> list[Check]:
    """Runs the checks in order and stops at the first one the later ones depend on."""
    engine = EngineClient(base_url, api_timeout=30.0)
    checks: list[Check] = []
    try:
        if not await engine.ping():
            checks.append(Check("engine answers", False, unavailable_message(engine.url)))
            return checks
        checks.append(Check("engine answers", True, engine.url))
        client = await engine.get()
        version: dict[str, Any] = await engine.call(client.version)
        api_version = str(version.get("ApiVersion", "?"))
        components = {c.get("Name", ""): c.get("Version", "") for c in version.get("Components") or []}
        name = "podman" if "Podman Engine" in components else "docker"
        api_ok = _version_tuple(api_version) >= MIN_API_VERSION
        checks.append(
            Check(
                "API version",
                api_ok,
                f"{name} {version.get('Version', '?')}, API {api_version}"
                + ("" if api_ok else f" (needs {'.'.join(map(str, MIN_API_VERSION))} or newer)"),
            )
        )
        try:
            inspected: dict[str, Any] = await engine.call(client.api.inspect_image, image, image=image)
        except SandboxError as exc:
            checks.append(Check("image present", False, str(exc)))
            return checks
        size_mb = int(inspected.get("Size") or 0) / 1e6
        checks.append(Check("image present", True, f"{image} ({size_mb:.0f} MB)"))
    except RustyClawError as exc:
        checks.append(Check("engine call", False, str(exc)))
        return checks
    finally:
        await engine.aclose()
    checks.append(await _trial_run(base_url, image))
    return checks


async def _trial_run(base_url: str | None, image: str) -> Check:
    sandbox = DockerSandbox(base_url, name_prefix="rustyclaw-doctor")
    spec = SandboxSpec(image=image, reuse=False, timeout=30.0, memory=128 * 1024**2, pids_limit=32)
    try:
        result = await sandbox.run("doctor", ["sh", "-c", "echo ok; id -u"], spec)
    except RustyClawError as exc:
        return Check("trivial run works", False, str(exc))
    finally:
        await sandbox.aclose()
    lines = result.stdout.split()
    ok = result.exit_code == 0 and lines[:1] == ["ok"]
    detail = f"exit {result.exit_code}, uid {lines[1] if len(lines) > 1 else '?'}, {result.duration:.2f} s"
    if not ok:
        detail += f": {result.stderr.strip()[-300:]}"
    return Check("trivial run works", ok, detail)
