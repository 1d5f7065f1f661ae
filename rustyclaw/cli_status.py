"""`rustyclaw status`: what a running gateway's /readyz says, channel by channel."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, TextIO


def add_status_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    status = sub.add_parser("status", help="ask the running gateway how its channels and model are")
    status.add_argument("--config", metavar="PATH", help="configuration file (YAML, JSON or TOML)")
    status.add_argument("--url", help="the gateway's address (default: from gateway.host and gateway.port)")
    status.add_argument("--json", action="store_true", help="print the /readyz body as JSON")
    status.set_defaults(handler="rustyclaw.cli_status:run_status")


def run_status(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Exit 0 when the gateway answers ready, 1 when it answers otherwise or not at all."""
    import httpx

    from rustyclaw.settings import load_settings

    stream = out or sys.stdout
    settings = load_settings(args.config)
    gateway = settings.config.gateway
    url = args.url or f"http://{_host(gateway.host)}:{gateway.port}"
    headers = {"authorization": f"Bearer {gateway.auth.token}"} if gateway.auth.token else {}
    try:
        response = httpx.get(f"{url.rstrip('/')}/readyz", headers=headers, timeout=5.0)
        body: dict[str, Any] = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        print(f"rustyclaw: no gateway answers at {url} ({type(exc).__name__}: {exc})", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(body, indent=2), file=stream)
    else:
        print(render(url, body), file=stream)
    return 0 if body.get("status") == "ready" else 1


def render(url: str, body: dict[str, Any]) -> str:
    lines = [f"gateway  {url}: {body.get('status', 'unknown')}"]
    model = body.get("model") or {}
    if model:
        where = " ".join(str(model[k]) for k in ("provider", "url") if model.get(k))
        lines.append(f"model    {model.get('state')}" + (f" ({where})" if where else "")
                     + (f": {model['error']}" if model.get("error") else ""))
    replicas = body.get("replicas")
    if isinstance(replicas, dict):  # gateway.replicas on: is this replica the one running the leader duties?
        lines.append("replica  leader" + (f" (term {replicas['term']})" if replicas.get("term") else "")
                     if replicas.get("leader") else "replica  follower")
    for name, channel in sorted((body.get("channels") or {}).items()):
        line = f"channel  {name}: {channel.get('state')}"
        if channel.get("error"):
            line += f": {channel['error']}"
        lines.append(line)
    delivery = body.get("delivery") or {}
    if delivery.get("journal"):
        lines.append(f"delivery {delivery.get('unfinished', 0)} waiting, {delivery.get('failed', 0)} failed "
                     f"(not delivered; see the log), {delivery.get('delivered', 0)} delivered")
    for name, server in sorted((body.get("mcp") or {}).items()):
        line = f"mcp      {name}: {server.get('status')}, {server.get('tools')} tools"
        if server.get("restarts"):
            line += f", {server['restarts']} restarts"
        if server.get("error") and server.get("status") != "ready":
            line += f": {server['error']}"
        lines.append(line)
    return "\n".join(lines)


def _host(host: str) -> str:
    # A wildcard bind is reached on loopback; an IPv6 literal needs brackets in a URL.
    if host in ("0.0.0.0", "::", ""):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host
