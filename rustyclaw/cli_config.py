"""`rustyclaw config validate|show`."""

from __future__ import annotations

import argparse

from rustyclaw.config.loader import BUILT_IN, load_config


def run_config(args: argparse.Namespace) -> int:
    loaded = load_config(args.config)
    if args.action == "validate":
        print(f"ok: {loaded.source or BUILT_IN} is valid")
        return 0
    from rustyclaw.config.render import render_config

    print(render_config(loaded.config, fmt=args.format), end="")
    return 0
