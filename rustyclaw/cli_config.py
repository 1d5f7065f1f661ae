"""`rustyclaw config validate|show`."""

from __future__ import annotations

import argparse

from rustyclaw.config.loader import BUILT_IN, load_config


def run_config(args: argparse.Namespace) -> int:
    if args.action == "validate":
        from rustyclaw.settings import load_settings

        # The same load and checks as `serve`: what validate accepts, serve starts with.
        settings = load_settings(args.config)
        print(f"ok: {settings.source or BUILT_IN} is valid")
        return 0
    from rustyclaw.config.render import render_config

    print(render_config(load_config(args.config).config, fmt=args.format), end="")
    return 0
