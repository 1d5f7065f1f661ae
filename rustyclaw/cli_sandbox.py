"""`rustyclaw sandbox doctor|build-image`."""

from __future__ import annotations

import argparse


def add_sandbox_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sandbox = sub.add_parser("sandbox", help="check the container engine or build the sandbox image")
    actions = sandbox.add_subparsers(dest="action", required=True, metavar="ACTION")
    doctor = actions.add_parser("doctor", help="does an engine answer, is the image there, does a run work")
    build = actions.add_parser("build-image", help="build the default sandbox image without a registry")
    build.add_argument("--kind", choices=["python", "busybox"], default="python",
                       help="python: Debian minbase with python3 (default); busybox: tiny, for quick tests")
    build.add_argument("--tag", help="image tag (default: sandbox.docker.image)")
    build.add_argument("--rebuild", action="store_true", help="rebuild even if the image exists")
    for p in (doctor, build):
        p.add_argument("--config", metavar="PATH", help="configuration file (YAML, JSON or TOML)")


def run_sandbox(args: argparse.Namespace) -> int:
    import anyio

    from rustyclaw.settings import load_settings

    docker = load_settings(args.config).config.sandbox.docker
    if args.action == "doctor":
        from rustyclaw.adapters.sandbox.doctor import doctor

        checks = anyio.run(doctor, docker.base_url, docker.image)
        for check in checks:
            print(f"{'ok  ' if check.ok else 'FAIL'} {check.check}: {check.detail}")
        return 0 if checks and all(c.ok for c in checks) else 1
    from rustyclaw.adapters.sandbox.image import build_image

    async def build() -> None:
        built = await build_image(args.kind, base_url=docker.base_url,
                                  tag=args.tag or (docker.image if args.kind == "python" else None),
                                  rebuild=args.rebuild)
        print(f"built {built.tag} ({built.image_id[:19]}, {built.size_bytes / 1e6:.0f} MB) in {built.seconds:.1f} s")

    anyio.run(build)
    return 0
