"""Plugin test helpers: WAT sources, plugin folders, and a Gateway with the plugin hook wired in.

`make_hooked_gateway` gives the domain tests' Gateway the plugins' `before_turn` hook, exactly as
the composition root does (`Gateway(..., hooks=...)`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rustyclaw.adapters.plugins.host_api import PluginHost, PluginStorage
from rustyclaw.adapters.plugins.loader import PluginCaps, discover, sources
from rustyclaw.adapters.plugins.manager import PluginManager
from rustyclaw.adapters.plugins.python_runtime import PythonRuntime
from rustyclaw.adapters.plugins.wasm_runtime import WasmRuntime
from rustyclaw.ports.plugins import Fetch, TurnHooks
from tests.unit.gateway_kit import Kit, make_gateway

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "plugins"

# A bump allocator whose dealloc frees everything (the host deallocs only at the end of a call).
WAT_PRELUDE = """
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 4096))
  (func $alloc (export "alloc") (param $n i32) (result i32)
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
  (func (export "dealloc") (param i32 i32) (global.set $heap (i32.const 4096)))
"""


def wat_module(body: str, imports: str = "") -> str:
    return f"(module {imports}{WAT_PRELUDE}{body})"


# on_message: never returns (fuel stops it).
SPIN_WAT = wat_module("""
  (func (export "handle") (param i32 i32) (result i64)
    (loop $forever (br $forever))
    (i64.const 0))
""")

# on_message: grows memory a page at a time until refused, then aborts.
GROW_WAT = wat_module("""
  (func (export "handle") (param i32 i32) (result i64)
    (loop $more
      (br_if $more (i32.ne (memory.grow (i32.const 1)) (i32.const -1))))
    (unreachable))
""")

# Every event: calls web.fetch and returns the host's answer with `"` turned into `'`, as a reply.
FETCH_WAT = wat_module("""
  (data (i32.const 16) "{\\"api\\":\\"web.fetch\\",\\"args\\":{\\"url\\":\\"http://127.0.0.1:9/\\"}}")
  (data (i32.const 128) "{\\"action\\":\\"reply\\",\\"text\\":\\"")
  (func (export "handle") (param i32 i32) (result i64)
    (local $resp i64) (local $src i32) (local $len i32) (local $out i32) (local $i i32) (local $c i32)
    (local.set $resp (call $host_call (i32.const 16) (i32.const 56)))
    (local.set $src (i32.wrap_i64 (i64.shr_u (local.get $resp) (i64.const 32))))
    (local.set $len (i32.wrap_i64 (local.get $resp)))
    (local.set $out (call $alloc (i32.add (local.get $len) (i32.const 32))))
    (memory.copy (local.get $out) (i32.const 128) (i32.const 26))
    (block $done
      (loop $copy
        (br_if $done (i32.ge_u (local.get $i) (local.get $len)))
        (local.set $c (i32.load8_u (i32.add (local.get $src) (local.get $i))))
        (if (i32.eq (local.get $c) (i32.const 34)) (then (local.set $c (i32.const 39))))
        (i32.store8 (i32.add (local.get $out) (i32.add (i32.const 26) (local.get $i))) (local.get $c))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $copy)))
    (i32.store16 (i32.add (local.get $out) (i32.add (i32.const 26) (local.get $len))) (i32.const 0x7d22))
    (i64.or (i64.shl (i64.extend_i32_u (local.get $out)) (i64.const 32))
            (i64.extend_i32_u (i32.add (local.get $len) (i32.const 28)))))
""", imports='(import "rustyclaw" "host_call" (func $host_call (param i32 i32) (result i64)))')

# Any event: replies "ok" (a plugin that keeps working next to failing ones).
OK_WAT = wat_module("""
  (data (i32.const 16) "{\\"action\\":\\"reply\\",\\"text\\":\\"ok\\"}")
  (func (export "handle") (param i32 i32) (result i64)
    (i64.or (i64.shl (i64.const 16) (i64.const 32)) (i64.const 30)))
""")


def write_plugin(
    root: Path, name: str, *, runtime: str = "wasm", source: str, entry: str | None = None,
    permissions: list[str] | None = None, hooks: dict[str, Any] | None = None,
    limits: dict[str, Any] | None = None, config_schema: dict[str, Any] | None = None,
) -> Path:
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    entry = entry or ("plugin.wat" if runtime == "wasm" else "plugin.py")
    (folder / entry).write_text(source)
    manifest: dict[str, Any] = {
        "name": name, "version": "1.0.0", "runtime": runtime, "entry": entry,
        "permissions": permissions or [], "hooks": hooks or {}, "limits": limits or {},
    }
    if config_schema is not None:
        manifest["configSchema"] = config_schema
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


async def start_manager(
    dirs: list[Path], state: Path, *, fetch: Fetch | None = None, configs: dict[str, Any] | None = None,
    caps: PluginCaps | None = None, enabled: dict[str, bool] | None = None, **host_kw: Any,
) -> PluginManager:
    ready, problems = sources(discover(dirs, enabled), configs or {}, caps or PluginCaps())
    assert not problems, problems
    host = PluginHost(storage=PluginStorage(state), fetch=fetch,
                      configs={s.manifest.name: s.config for s in ready}, **host_kw)
    manager = PluginManager(ready, {"wasm": WasmRuntime(), "python": PythonRuntime()}, host)
    await manager.start()
    return manager


async def make_hooked_gateway(hooks: TurnHooks, **kw: Any) -> Kit:
    kit = await make_gateway(**kw)
    kit.gateway._hooks = hooks
    return kit
