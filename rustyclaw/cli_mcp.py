"""`rustyclaw mcp list|tools|call|serve`: the configured MCP servers, and the gateway as an MCP server.

`list` reads the config only (no server is started); `tools` and `call` connect to the servers
named (all enabled ones by default) and stop them again; `serve` speaks MCP on stdin/stdout
(logs go to stderr) with the gateway's own core behind it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rustyclaw.adapters.mcp.manager import McpManager
    from rustyclaw.config.schema import RustyClawConfig
    from rustyclaw.settings import Settings


def add_mcp_parser(sub: Any) -> None:
    mcp = sub.add_parser("mcp", help="MCP servers: list, their tools, call one; serve the gateway over MCP")
    actions = mcp.add_subparsers(dest="action", required=True, metavar="ACTION")

    def common(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--config", metavar="PATH", help="configuration file (YAML, JSON or TOML)")
        p.set_defaults(handler="rustyclaw.cli_mcp:run_mcp")
        return p

    listing = common(actions.add_parser("list", help="configured servers (nothing is started)"))
    listing.add_argument("--json", action="store_true")
    tools = common(actions.add_parser("tools", help="connect and list the tools, under their agent names"))
    tools.add_argument("server", nargs="?", help="only this server")
    tools.add_argument("--json", action="store_true")
    call = common(actions.add_parser("call", help="call one tool: rustyclaw mcp call SERVER TOOL '{\"a\": 1}'"))
    call.add_argument("server")
    call.add_argument("tool", help="the server's own tool name (or its agent name server__tool)")
    call.add_argument("arguments", nargs="?", default="{}", help="JSON object of arguments (default {})")
    common(actions.add_parser("serve", help="serve the gateway as an MCP server on stdio"))


def run_mcp(args: argparse.Namespace) -> int:
    from rustyclaw.settings import load_settings

    settings = load_settings(args.config)
    cfg = settings.config
    import anyio

    if args.action == "list":
        return _list(cfg, args.json)
    from rustyclaw.logs import setup_logging

    # stdout carries the MCP protocol for `serve`; every log line goes to stderr.
    setup_logging("warning", cfg.gateway.log_format, settings.secrets)
    if args.action == "serve":
        return anyio.run(_serve, settings)
    return anyio.run(_connect_and, cfg, settings.state_dir, args)


async def _serve(settings: Settings) -> int:
    """The core, as `rustyclaw chat` builds it, behind an MCP server on stdin/stdout."""
    from rustyclaw.adapters.mcp.gateway_server import build_gateway_server
    from rustyclaw.app import bootstrap

    async with bootstrap(settings, "core") as root:
        if root.models.notice:
            print(root.models.notice, file=sys.stderr)
        server = build_gateway_server(
            root.gateway, root.store, default_agent=settings.agents.default_agent,
            agent_ids=tuple(settings.agents.agent_ids),
        )
        await server.run_stdio_async()
    return 0


def _list(cfg: RustyClawConfig, as_json: bool) -> int:
    from rustyclaw.adapters.mcp.settings import mcp_settings

    servers = mcp_settings(cfg.mcp).servers
    rows = [{"name": s.name, "transport": s.transport, "enabled": s.enabled, "lazy": s.lazy,
             "launch": s.launch(), "timeoutSeconds": s.request_timeout} for s in servers]
    if as_json:
        print(json.dumps({"servers": rows}, indent=2))
        return 0
    if not rows:
        print("no MCP servers configured (mcp.servers)")
    for row in rows:
        state = "enabled" if row["enabled"] else "disabled"
        start = "lazy" if row["lazy"] else "at start"
        print(f"{row['name']}\t{row['transport']}\t{state}, {start}\t{row['launch']}")
    return 0


async def _connect_and(cfg: RustyClawConfig, state_dir: Path, args: argparse.Namespace) -> int:
    from dataclasses import replace

    from rustyclaw.adapters.mcp.manager import McpManager
    from rustyclaw.adapters.mcp.results import result_text
    from rustyclaw.adapters.mcp.settings import mcp_settings
    from rustyclaw.domain.errors import RustyClawError, ToolError

    settings = mcp_settings(cfg.mcp, state_dir)
    wanted = getattr(args, "server", None)
    names = [s.name for s in settings.servers]
    if wanted is not None and wanted not in names:
        raise RustyClawError(f"no MCP server {wanted!r} in mcp.servers (configured: {', '.join(names) or 'none'})")
    # Only the servers asked about are started, each eagerly (a CLI run has no "later").
    chosen = tuple(replace(s, lazy=False) for s in settings.servers if wanted in (None, s.name) and s.enabled)
    manager = McpManager(replace(settings, servers=chosen))
    await manager.start()
    try:
        if args.action == "tools":
            return _print_tools(manager, args.json)
        connection = manager.connections[args.server]
        remote = args.tool.split("__", 1)[1] if "__" in args.tool else args.tool
        try:
            arguments = json.loads(args.arguments)
        except json.JSONDecodeError as exc:
            raise RustyClawError(f"arguments: not JSON ({exc.msg} at character {exc.pos})") from exc
        if not isinstance(arguments, dict):
            raise RustyClawError("arguments: should be a JSON object such as '{\"a\": 1}'")
        try:
            print(result_text(await connection.call(remote, arguments), connection.settings.max_result_chars))
        except ToolError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        return 0
    finally:
        await manager.aclose()


def _print_tools(manager: McpManager, as_json: bool) -> int:
    statuses = manager.status()
    if as_json:
        print(json.dumps({
            "servers": manager.status_json(),
            "tools": [{"name": t.spec.name, "server": t.server, "tool": t.remote_name,
                       "description": t.spec.description} for t in manager.tools()],
        }, indent=2))
        return 0 if all(s.status == "ready" for s in statuses) else 1
    for status in statuses:
        extra = f" ({status.error})" if status.error else ""
        print(f"# {status.name}: {status.status}, {status.tools} tools{extra}")
        for tool in manager.tools():
            if tool.server == status.name:
                print(f"{tool.spec.name}\t{tool.spec.description}")
    return 0 if all(s.status == "ready" for s in statuses) else 1
