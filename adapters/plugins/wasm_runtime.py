"""WASM plugins on wasmtime: untrusted code, each plugin in its own Store with a memory cap and fuel.

The ABI (JSON through linear memory, one import `rustyclaw.host_call`) is documented in
docs/plugin-abi.md. What the sandbox gives a plugin:
- no WASI: the only import is `rustyclaw.host_call`; a module importing anything else is refused
  at load with a message naming the import;
- a memory cap per Store (`memory.grow` past it returns -1; a module whose initial memory is
  larger cannot be instantiated);
- fuel per handler call: an endless loop traps when the fuel is spent;
- calls run in a worker thread, so the event loop keeps serving while a plugin computes; one call
  at a time per plugin (a Store is not shared between threads);
- after a trap the instance is dropped and the next call instantiates afresh from the cached
  Module, so a plugin that failed once does not carry a half-updated state on.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import anyio
import anyio.from_thread
import msgspec

from rustyclaw.domain.errors import MissingExtraError
from rustyclaw.domain.plugins import (
    HandlerResult,
    PluginError,
    PluginEvent,
    PluginHooks,
    PluginPermissionError,
    StartEvent,
    StopEvent,
)
from rustyclaw.ports.plugins import HostApi, PluginSource

log = logging.getLogger("rustyclaw.plugins")

HOST_MODULE = "rustyclaw"
HOST_IMPORTS = frozenset({"host_call"})
MAX_MESSAGE_BYTES = 4 * 1024 * 1024

_event_encoder = msgspec.json.Encoder()
_result_decoder = msgspec.json.Decoder(HandlerResult)


class _HostRequest(msgspec.Struct, frozen=True):
    api: str
    args: dict[str, Any] = msgspec.field(default_factory=dict)


_request_decoder = msgspec.json.Decoder(_HostRequest)


def _wasmtime() -> Any:
    try:
        import wasmtime
    except ImportError as exc:
        raise MissingExtraError("wasmtime", "plugins", "WASM plugins") from exc
    return wasmtime


def unpack(packed: int) -> tuple[int, int]:
    """An i64 `ptr << 32 | len` (as wasm hands it over, possibly negative) -> (ptr, len)."""
    value = packed & 0xFFFF_FFFF_FFFF_FFFF
    return value >> 32, value & 0xFFFF_FFFF


class WasmEngine:
    """One wasmtime Engine with fuel metering, and the compiled Modules by file (path, mtime, size)."""

    def __init__(self) -> None:
        wasmtime = _wasmtime()
        config = wasmtime.Config()
        config.consume_fuel = True
        self.wasmtime = wasmtime
        self.engine = wasmtime.Engine(config)
        self._modules: dict[tuple[str, int, int], Any] = {}

    def compile(self, path: Path) -> Any:
        """Compiles a `.wasm` (binary) or `.wat` (text) file, without the cache."""
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise PluginError(f"cannot read {path}: {exc}") from exc
        try:
            if path.suffix == ".wat":
                return self.wasmtime.Module(self.engine, data.decode("utf-8"))
            return self.wasmtime.Module(self.engine, data)
        except (self.wasmtime.WasmtimeError, UnicodeDecodeError) as exc:
            raise PluginError(f"{path} is not a valid WebAssembly module: {exc}") from exc

    def module(self, path: Path) -> Any:
        """The compiled Module of `path`, compiled once per file version."""
        try:
            stat = path.stat()
        except OSError as exc:
            raise PluginError(f"cannot read {path}: {exc}") from exc
        key = (str(path), stat.st_mtime_ns, stat.st_size)
        module = self._modules.get(key)
        if module is None:
            module = self.compile(path)
            check_imports(module, path)
            self._modules = {k: v for k, v in self._modules.items() if k[0] != key[0]}
            self._modules[key] = module
        return module


def check_imports(module: Any, path: Path) -> None:
    """Refuses modules that import anything but `rustyclaw.host_call` (WASI included)."""
    for item in module.imports:
        if item.module != HOST_MODULE or item.name not in HOST_IMPORTS:
            raise PluginError(
                f"{path} imports {item.module}.{item.name}, which RustyClaw does not provide: plugins "
                f"get no WASI; they reach the outside only through {HOST_MODULE}.host_call"
            )


class WasmPlugin:
    """A PluginInstance running one WASM module (see the module docstring)."""

    def __init__(self, source: PluginSource, host: HostApi, engine: WasmEngine) -> None:
        self.source = source
        self.manifest = source.manifest
        self._host = host
        self._engine = engine
        self._module: Any = None
        self._store: Any = None
        self._exports: dict[str, Any] | None = None
        self._lock = anyio.Lock()
        self.traps = 0

    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def hooks(self) -> PluginHooks:
        return self.manifest.hooks

    async def start(self) -> None:
        self._module = await anyio.to_thread.run_sync(self._engine.module, self.source.entry_path)
        async with self._lock:
            await anyio.to_thread.run_sync(self._instantiate)
        if self.hooks.on_start:
            result = await self.handle(StartEvent(config=self.source.config))
            if result.error is not None:
                raise PluginError(f"plugin {self.name}: on_start failed: {result.error}")

    async def aclose(self) -> None:
        if self.hooks.on_stop and self._module is not None:
            await self.handle(StopEvent(config=self.source.config))
        self._exports = None
        self._store = None

    def _instantiate(self) -> None:
        wt = self._engine.wasmtime
        limits = self.source.limits
        store = wt.Store(self._engine.engine)
        store.set_limits(memory_size=limits.memory_bytes, instances=4, tables=4, memories=1,
                         table_elements=100_000)
        store.set_fuel(limits.fuel)
        linker = wt.Linker(self._engine.engine)
        host_call_type = wt.FuncType([wt.ValType.i32(), wt.ValType.i32()], [wt.ValType.i64()])
        linker.define_func(HOST_MODULE, "host_call", host_call_type, self._host_call, access_caller=True)
        try:
            instance = linker.instantiate(store, self._module)
        except (wt.WasmtimeError, wt.Trap) as exc:
            raise PluginError(f"plugin {self.name} cannot be instantiated: {_first_line(exc)}") from exc
        exports = {name: instance.exports(store)[name] for name in ("memory", "alloc", "handle")
                   if name in instance.exports(store)}
        missing = {"memory", "alloc", "handle"} - exports.keys()
        if missing:
            raise PluginError(
                f"plugin {self.name} does not export {', '.join(sorted(missing))} (see docs/plugin-abi.md)"
            )
        if "dealloc" in instance.exports(store):
            exports["dealloc"] = instance.exports(store)["dealloc"]
        self._store = store
        self._exports = exports

    async def handle(self, event: PluginEvent) -> HandlerResult:
        if self.source.config and not event.config:
            # The dispatcher does not know plugin configs; each event carries its plugin's own.
            event = msgspec.structs.replace(event, config=self.source.config)
        payload = _event_encoder.encode(event)
        async with self._lock:
            try:
                return await anyio.to_thread.run_sync(self._call, payload)
            except PluginError as exc:
                log.warning("plugin %s: %s", self.name, exc)
                return HandlerResult(error=str(exc))

    def _call(self, payload: bytes) -> HandlerResult:
        wt = self._engine.wasmtime
        if self._exports is None:
            self._instantiate()
        assert self._exports is not None
        store, exports = self._store, self._exports
        store.set_fuel(self.source.limits.fuel)
        try:
            ptr = self._write(store, exports, payload)
            packed = exports["handle"](store, ptr, len(payload))
            out_ptr, out_len = unpack(packed)
            raw = self._read(store, exports, out_ptr, out_len) if out_len else b""
            # Result first, then the input: after these the guest owns nothing of this call.
            if "dealloc" in exports:
                if out_len:
                    exports["dealloc"](store, out_ptr, out_len)
                exports["dealloc"](store, ptr, len(payload))
            if not raw:
                return HandlerResult()
        except wt.Trap as exc:
            self._drop_instance()
            raise PluginError(f"trapped: {_trap_reason(exc, wt)}") from exc
        except wt.WasmtimeError as exc:
            self._drop_instance()
            raise PluginError(f"failed: {_first_line(exc)}") from exc
        try:
            return _result_decoder.decode(raw)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise PluginError(f"returned a result that is not a HandlerResult: {exc}") from exc

    def _drop_instance(self) -> None:
        self.traps += 1
        self._exports = None
        self._store = None

    @staticmethod
    def _write(store: Any, exports: dict[str, Any], data: bytes) -> int:
        ptr: int = exports["alloc"](store, len(data))
        if ptr <= 0:
            raise PluginError(f"alloc({len(data)}) returned {ptr} (out of memory?)")
        exports["memory"].write(store, data, ptr)
        return ptr

    @staticmethod
    def _read(store: Any, exports: dict[str, Any], ptr: int, length: int) -> bytes:
        memory = exports["memory"]
        if length > MAX_MESSAGE_BYTES or ptr + length > memory.data_len(store):
            raise PluginError(f"returned a buffer outside its memory or over 4 MB (ptr {ptr}, len {length})")
        return bytes(memory.read(store, ptr, ptr + length))

    def _host_call(self, caller: Any, ptr: int, length: int) -> int:
        # Runs in the worker thread, inside the guest's call; the host API runs on the event loop.
        try:
            memory = caller.get("memory")
            if length > MAX_MESSAGE_BYTES or ptr < 0 or ptr + length > memory.data_len(caller):
                response: dict[str, Any] = {"ok": False, "error": "request buffer outside memory or over 4 MB"}
            else:
                request = _request_decoder.decode(bytes(memory.read(caller, ptr, ptr + length)))
                result = anyio.from_thread.run(self._host.call, self.manifest, request.api, request.args)
                response = {"ok": True, "result": result}
        except PluginPermissionError as exc:
            response = {"ok": False, "error": str(exc), "code": "permission"}
        except PluginError as exc:
            response = {"ok": False, "error": str(exc)}
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            response = {"ok": False, "error": f"bad request: {exc}"}
        except Exception as exc:  # never let a host failure unwind through wasm frames
            log.exception("plugin %s: host_call failed", self.name)
            response = {"ok": False, "error": f"host error: {type(exc).__name__}"}
        data = msgspec.json.encode(response)
        out: int = caller.get("alloc")(caller, len(data))
        if out <= 0:
            return 0
        caller.get("memory").write(caller, data, out)
        return (out << 32) | len(data)


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _trap_reason(exc: Any, wt: Any) -> str:
    code = getattr(exc, "trap_code", None)
    if code == wt.TrapCode.OUT_OF_FUEL:
        return "out of fuel (the time limit: plugins.fuelPerCall or the manifest's limits.fuel)"
    if code == wt.TrapCode.UNREACHABLE:
        return "unreachable executed (a panic or abort in the plugin, often out of memory)"
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[-1] if lines else type(exc).__name__


class WasmRuntime:
    """The PluginRuntime for `runtime: wasm`; its Engine (and wasmtime) load at the first plugin."""

    kind = "wasm"

    def __init__(self) -> None:
        self._engine: WasmEngine | None = None

    @property
    def engine(self) -> WasmEngine:
        if self._engine is None:
            self._engine = WasmEngine()
        return self._engine

    def load(self, source: PluginSource, host: HostApi) -> WasmPlugin:
        return WasmPlugin(source, host, self.engine)
