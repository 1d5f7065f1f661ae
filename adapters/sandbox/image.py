"""Building the sandbox images locally and importing them through the Engine API (no registry).

- "python" -> rustyclaw-sandbox:latest: Debian minbase + python3-minimal from `mmdebstrap`
  (about 25 s the first time; the rootfs tar is cached, a re-import takes a few seconds).
- "busybox" -> rustyclaw-busybox:latest: the host's static busybox (Debian `busybox-static`) and
  its applet links; under a second. For fast tests.

scripts/services.d/20-podman.sh builds the same two images with the podman CLI; keep the recipes
(mmdebstrap options, users, mount points, image config) in step.

Run by hand: python -m rustyclaw.adapters.sandbox.image [python|busybox] [--rebuild]
"""

from __future__ import annotations

import functools
import io
import json
import os
import shutil
import struct
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import Any, Literal, NamedTuple

import anyio
import anyio.to_thread

from rustyclaw.adapters.sandbox.engine_client import EngineClient
from rustyclaw.domain.errors import SandboxError

ImageKind = Literal["python", "busybox"]

DEFAULT_TAGS: dict[str, str] = {"python": "rustyclaw-sandbox:latest", "busybox": "rustyclaw-busybox:latest"}
DEFAULT_CACHE = Path("/var/cache/rustyclaw-podman")
BUSYBOX_PATH = Path("/bin/busybox")
SANDBOX_UID = 1000

_DEBIAN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_CHANGES: dict[str, list[str]] = {
    "python": ['CMD ["/bin/sh"]', f"ENV PATH={_DEBIAN_PATH}", "WORKDIR /workspace"],
    "busybox": ['CMD ["/bin/sh"]', "ENV PATH=/bin", "WORKDIR /workspace"],
}
# Docs, manuals and translations are dead weight in a sandbox.
_PATH_EXCLUDES = ("/usr/share/doc/*", "/usr/share/man/*", "/usr/share/info/*", "/usr/share/locale/*")


class BuiltImage(NamedTuple):
    tag: str
    image_id: str
    seconds: float
    size_bytes: int


def _is_static_elf(path: Path) -> bool:
    """True when the ELF file has no program interpreter (PT_INTERP), i.e. runs in an empty root."""
    with path.open("rb") as fh:
        head = fh.read(64)
        if head[:4] != b"\x7fELF" or head[4] != 2:  # 64-bit only
            return False
        endian = "<" if head[5] == 1 else ">"
        (phoff,) = struct.unpack_from(endian + "Q", head, 32)
        phentsize, phnum = struct.unpack_from(endian + "HH", head, 54)
        fh.seek(phoff)
        table = fh.read(phentsize * phnum)
    return all(struct.unpack_from(endian + "I", table, i * phentsize)[0] != 3 for i in range(phnum))


def _add_dir(tar: tarfile.TarFile, name: str, mode: int = 0o755) -> None:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime = tarfile.DIRTYPE, mode, int(time.time())
    tar.addfile(info)


def _add_file(tar: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), mode, int(time.time())
    tar.addfile(info, io.BytesIO(data))


def busybox_rootfs(busybox: Path = BUSYBOX_PATH) -> bytes:
    """A root file system tar: static busybox, one link per applet, a sandbox user, mount points."""
    if not busybox.is_file() or not _is_static_elf(busybox):
        raise SandboxError(
            f"{busybox} is missing or not statically linked: install Debian's busybox-static "
            "(scripts/install.d/20-podman.sh)"
        )
    applets = subprocess.run([str(busybox), "--list"], check=True, capture_output=True, text=True).stdout
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for folder in ("bin", "etc", "proc", "sys", "dev", "workspace", "root"):
            _add_dir(tar, folder)
        _add_dir(tar, "tmp", 0o1777)
        _add_file(tar, "bin/busybox", busybox.read_bytes(), 0o755)
        for applet in applets.split():
            if applet != "busybox":
                link = tarfile.TarInfo(f"bin/{applet}")
                link.type, link.linkname, link.mode = tarfile.SYMTYPE, "busybox", 0o777
                tar.addfile(link)
        users = f"root:x:0:0:root:/root:/bin/sh\nsandbox:x:{SANDBOX_UID}:{SANDBOX_UID}:sandbox:/tmp:/bin/sh\n"
        _add_file(tar, "etc/passwd", users.encode())
        _add_file(tar, "etc/group", f"root:x:0:\nsandbox:x:{SANDBOX_UID}:\n".encode())
    return buf.getvalue()


def mmdebstrap_argv(target: Path, suite: str = "bookworm", mirror: str | None = None) -> list[str]:
    """The Debian minbase + python3 recipe; without a mirror mmdebstrap uses the machine's apt sources."""
    argv = ["mmdebstrap", "--quiet", "--format=tar", "--variant=minbase", "--include=python3-minimal"]
    argv += [f"--dpkgopt=path-exclude={pattern}" for pattern in _PATH_EXCLUDES]
    argv += [
        f'--customize-hook=chroot "$1" useradd -u {SANDBOX_UID} -U -d /tmp -s /bin/sh sandbox',
        '--customize-hook=mkdir -p "$1/workspace"',
        '--customize-hook=rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/*',
        suite,
        str(target),
    ]
    if mirror:
        argv.append(mirror)
    return argv


def _non_empty(path: Path) -> bool:
    return path.is_file() and path.stat().st_size > 0


async def debian_rootfs(cache_dir: Path, suite: str = "bookworm", *, rebuild: bool = False) -> Path:
    """Runs mmdebstrap once into `cache_dir` (needs root) and returns the cached tar."""
    target = cache_dir / f"{suite}-minbase-python3.tar"
    if not rebuild and await anyio.to_thread.run_sync(_non_empty, target):
        return target
    if shutil.which("mmdebstrap") is None:
        raise SandboxError("mmdebstrap is not installed: run scripts/install.d/20-podman.sh")
    await anyio.to_thread.run_sync(functools.partial(cache_dir.mkdir, parents=True, exist_ok=True))
    partial = target.with_suffix(".part.tar")
    result = await anyio.run_process(mmdebstrap_argv(partial, suite), check=False)
    if result.returncode != 0:
        partial.unlink(missing_ok=True)
        tail = result.stderr.decode(errors="replace")[-800:]
        raise SandboxError(f"mmdebstrap failed (exit {result.returncode}): {tail}")
    os.replace(partial, target)
    return target


def _import_id(response: Any) -> str:
    # The engine answers with JSON progress lines; the last one names the new image.
    text = response.decode() if isinstance(response, bytes) else str(response)
    for line in reversed(text.strip().splitlines()):
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if "error" in message:
            raise SandboxError(f"image import failed: {message['error']}")
        found = message.get("id") or message.get("status")
        if isinstance(found, str) and found:
            return found
    raise SandboxError(f"image import gave no image id: {text[-300:]!r}")


async def build_image(
    kind: ImageKind = "python",
    *,
    base_url: str | None = None,
    tag: str | None = None,
    cache_dir: Path = DEFAULT_CACHE,
    suite: str = "bookworm",
    rebuild: bool = False,
) -> BuiltImage:
    """Builds the image of `kind` and imports it as `tag` into the engine at `base_url`."""
    if kind not in DEFAULT_TAGS:
        raise SandboxError(f"unknown sandbox image kind {kind!r}: use 'python' or 'busybox'")
    tag = tag or DEFAULT_TAGS[kind]
    repository, _, version = tag.rpartition(":") if ":" in tag.rsplit("/", 1)[-1] else (tag, "", "latest")
    started = time.monotonic()
    engine = EngineClient(base_url, api_timeout=600.0)
    try:
        client = await engine.get()
        api = client.api
        if kind == "busybox":
            data = await anyio.to_thread.run_sync(busybox_rootfs)
            response = await engine.call(api.import_image_from_data, data, repository=tag, changes=_CHANGES[kind])
        else:
            rootfs = await debian_rootfs(cache_dir, suite, rebuild=rebuild)
            response = await engine.call(
                api.import_image_from_file,
                str(rootfs),
                repository=tag,
                changes=_CHANGES[kind],
            )
        image_id = _import_id(response)
        # The tag goes inside `repo` (podman ignores the `tag` parameter and would tag ":latest");
        # tagging once more afterwards is harmless and covers engines that ignore both.
        await engine.call(api.tag, image_id, repository, version)
        inspected: dict[str, Any] = await engine.call(api.inspect_image, tag)
    finally:
        await engine.aclose()
    return BuiltImage(
        tag, str(inspected.get("Id", image_id)), time.monotonic() - started, int(inspected.get("Size") or 0)
    )


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    rebuild = "--rebuild" in args
    kinds = [a for a in args if not a.startswith("--")] or ["python"]
    for kind in kinds:
        if kind not in DEFAULT_TAGS:
            print(f"unknown image kind {kind!r}: use python or busybox", file=sys.stderr)
            return 2
        built = anyio.run(functools.partial(build_image, kind, rebuild=rebuild))  # type: ignore[arg-type]
        print(f"{built.tag} {built.image_id[:19]} {built.size_bytes / 1e6:.1f} MB in {built.seconds:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
