"""`rustyclaw plugins list | info <name> | new <name> --runtime wasm|python`.

`list` and `info` read manifests only: no plugin code runs. `new` writes a working plugin folder
(a WebAssembly-text plugin needs no compiler; a Python one uses rustyclaw.plugin_sdk).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from rustyclaw.adapters.plugins.loader import FoundPlugin, PluginCaps, discover, sources
from rustyclaw.domain.errors import RustyClawError
from rustyclaw.domain.plugins import PluginError, validate_plugin_config

if TYPE_CHECKING:
    from rustyclaw.config.schema import RustyClawConfig


def add_plugins_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """Adds the `plugins` command to the CLI's subparsers."""
    plugins = sub.add_parser("plugins", help="list, inspect or create plugins")
    actions = plugins.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="plugins found in plugins.dirs, enabled or not")
    info = actions.add_parser("info", help="one plugin's manifest, limits and config check")
    info.add_argument("name")
    new = actions.add_parser("new", help="create a working plugin folder to start from")
    new.add_argument("name", help="lower-case letters, digits, '-' or '_'")
    new.add_argument("--runtime", choices=["wasm", "python"], required=True)
    new.add_argument("--dir", metavar="PATH", help="where to create it (default: the first of plugins.dirs)")
    for p in (listing, info, new):
        p.add_argument("--config", metavar="PATH", help="configuration file (YAML, JSON or TOML)")
    return plugins


def run_plugins(args: argparse.Namespace, out: TextIO | None = None, cfg: RustyClawConfig | None = None) -> int:
    """Runs one `plugins` action; returns the exit code. `cfg` overrides loading `--config`."""
    stream = out or sys.stdout
    if cfg is None:
        from rustyclaw.settings import load_settings

        cfg = load_settings(getattr(args, "config", None)).config
    if args.action == "list":
        return _list(cfg, stream)
    if args.action == "info":
        return _info(cfg, args.name, stream)
    if args.action == "new":
        target = Path(args.dir) if args.dir else Path(cfg.plugins.dirs[0])
        folder = scaffold(target.expanduser(), args.name, args.runtime)
        print(f"Created {folder} ({args.runtime}). It is enabled by default; try /{command_name(args.name)}.",
              file=stream)
        return 0
    raise ValueError(f"unknown plugins action {args.action!r}")


def _found(cfg: RustyClawConfig) -> list[FoundPlugin]:
    return discover([Path(d) for d in cfg.plugins.dirs], cfg.plugins.enabled)


def _list(cfg: RustyClawConfig, out: TextIO) -> int:
    found = _found(cfg)
    if not found:
        dirs = ", ".join(str(d) for d in cfg.plugins.dirs)
        print(f"No plugins in {dirs}. Create one: rustyclaw plugins new <name> --runtime wasm|python", file=out)
        return 0
    print(f"{'NAME':<20} {'VERSION':<10} {'RUNTIME':<8} {'ENABLED':<8} {'PERMISSIONS':<28} STATUS", file=out)
    for item in found:
        m = item.manifest
        perms = ",".join(m.permissions) if m else ""
        status = item.error or "ok"
        print(f"{item.name:<20} {(m.version if m else '-'):<10} {(m.runtime if m else '-'):<8} "
              f"{'yes' if item.enabled else 'no':<8} {perms or '-':<28} {status}", file=out)
    return 0


def _info(cfg: RustyClawConfig, name: str, out: TextIO) -> int:
    matches = [f for f in _found(cfg) if f.name == name]
    if not matches:
        raise RustyClawError(f"no plugin named {name!r} in plugins.dirs (see: rustyclaw plugins list)")
    item = matches[0]
    print(f"Name:        {item.name}", file=out)
    print(f"Folder:      {item.folder}", file=out)
    print(f"Enabled:     {'yes' if item.enabled else 'no (plugins.enabled)'}", file=out)
    m = item.manifest
    if m is None:
        print(f"Problem:     {item.error}", file=out)
        return 1
    caps = PluginCaps(memory_mb=cfg.plugins.memory_limit_mb, fuel=cfg.plugins.fuel_per_call,
                      timeout_seconds=cfg.plugins.timeout_seconds)
    limits = caps.resolve(m)
    print(f"Version:     {m.version}", file=out)
    print(f"Runtime:     {m.runtime} ({m.entry})", file=out)
    if m.description:
        print(f"About:       {m.description}", file=out)
    print(f"Permissions: {', '.join(m.permissions) or 'none'}", file=out)
    if m.runtime == "wasm":
        h = m.hooks
        hooks = [n for n, on in (("on_message", h.on_message), ("on_start", h.on_start), ("on_stop", h.on_stop)) if on]
        hooks += [f"/{c}" for c in h.commands] + [f"cron {c.id} ({c.spec().signature()})" for c in h.cron]
        print(f"Hooks:       {', '.join(hooks) or 'none'}", file=out)
        mib = limits.memory_bytes // (1024 * 1024)
        print(f"Limits:      {mib} MiB memory, {limits.fuel:,} fuel per call", file=out)
    else:
        print("Hooks:       declared by the module's decorators (not imported here)", file=out)
        print(f"Limits:      {limits.timeout_seconds:g} s per handler", file=out)
    if item.error:
        print(f"Problem:     {item.error}", file=out)
        return 1
    try:
        config = validate_plugin_config(m, cfg.plugins.config.get(m.name))
    except PluginError as exc:
        print(f"Config:      {exc}", file=out)
        return 1
    print(f"Config:      {json.dumps(config, sort_keys=True)}", file=out)
    _, problems = sources([item], cfg.plugins.config, caps)
    return 1 if problems else 0


def command_name(plugin: str) -> str:
    return re.sub(r"[^a-z0-9_]", "_", plugin.lower())[:32]


def scaffold(root: Path, name: str, runtime: str) -> Path:
    """Writes `<root>/<name>/` with a manifest and a working entry; refuses an existing folder."""
    if not re.match(r"^[a-z0-9][a-z0-9_-]{0,63}$", name):
        raise PluginError(f"plugin name {name!r} should be lower-case letters, digits, '-' or '_'")
    folder = root / name
    if folder.exists():
        raise PluginError(f"{folder} already exists")
    command = command_name(name)
    manifest: dict[str, Any] = {
        "name": name, "version": "0.1.0", "description": f"The {name} plugin.", "runtime": runtime,
        "entry": "plugin.wat" if runtime == "wasm" else "plugin.py", "permissions": [],
        "configSchema": {"type": "object", "properties": {}, "additionalProperties": False},
    }
    if runtime == "wasm":
        manifest["hooks"] = {"onMessage": True, "commands": [command]}
        entry = _WAT_TEMPLATE.replace("@REPLY@", _wat_string(json.dumps(
            {"action": "reply", "text": f"Hello from {name}!"}, separators=(",", ":"))))
        entry = entry.replace("@LEN@", str(len(json.dumps({"action": "reply", "text": f"Hello from {name}!"},
                                                           separators=(",", ":")).encode())))
    else:
        entry = _PY_TEMPLATE.replace("@NAME@", name).replace("@COMMAND@", command)
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    (folder / manifest["entry"]).write_text(entry)
    return folder


def _wat_string(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in " {}:,!-_." else f"\\{ord(ch):02x}" for ch in text)


_WAT_TEMPLATE = """\
;; A WASM plugin in WebAssembly text; the ABI is in RustyClaw's docs/plugin-abi.md.
;; on_message passes every message on unchanged (return 0); the command replies with a greeting.
;; To build from C or Rust instead, export the same memory/alloc/dealloc/handle and set "entry".
(module
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 4096))
  (data (i32.const 16) "@REPLY@")

  (func (export "alloc") (param $n i32) (result i32)
    (local $p i32) (local $end i32) (local $have i32)
    (local.set $p (i32.and (i32.add (global.get $heap) (i32.const 7)) (i32.const -8)))
    (local.set $end (i32.add (local.get $p) (local.get $n)))
    (local.set $have (i32.shl (memory.size) (i32.const 16)))
    (if (i32.gt_u (local.get $end) (local.get $have))
      (then (if (i32.eq (memory.grow (i32.add (i32.shr_u (i32.sub (local.get $end) (local.get $have))
                                                           (i32.const 16)) (i32.const 1)))
                        (i32.const -1))
              (then (return (i32.const 0))))))
    (global.set $heap (local.get $end))
    (local.get $p))

  ;; The host deallocates only when a call is over: everything can go at once.
  (func (export "dealloc") (param i32 i32) (global.set $heap (i32.const 4096)))

  ;; The event JSON starts {"event":"message"|"command"|"cron"|"start"|"stop", ...}.
  (func (export "handle") (param $p i32) (param $n i32) (result i64)
    (if (i32.eq (i32.load8_u (i32.add (local.get $p) (i32.const 10))) (i32.const 99))   ;; 'c'
      (then (if (i32.eq (i32.load8_u (i32.add (local.get $p) (i32.const 11))) (i32.const 111))  ;; 'o'
        (then (return (i64.or (i64.shl (i64.const 16) (i64.const 32)) (i64.const @LEN@)))))))
    (i64.const 0))
)
"""

_PY_TEMPLATE = '''\
"""The @NAME@ plugin (Python, trusted: it runs in the gateway's process)."""

from __future__ import annotations

from rustyclaw.plugin_sdk import Host, Message, command, on_message


@on_message
async def see(message: Message, host: Host):  # type: ignore[no-untyped-def]
    # Return rewrite("new text") to change the message, reply("text") to answer it yourself.
    return None


@command("@COMMAND@")
async def hello(args: str, message: Message, host: Host) -> str:
    return "Hello from @NAME@!"
'''
