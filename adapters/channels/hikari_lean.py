"""Imports hikari without its package `__init__`s importing every submodule (the Discord channel's memory).

`hikari/__init__.py`, `hikari/api/__init__.py` and `hikari/impl/__init__.py` star-import every
module of hikari: the gateway bot, its cache, event manager and event factory, every event class,
the interaction server (with `aiohttp.web`), voice. The Discord channel drives one gateway shard
and hikari's REST client itself (`hikari.impl.shard`, `hikari.impl.rest`: the REST client's entity
factory and the model modules it imports), so the rest is memory it never uses: about 5 MB of
attrs classes and bytecode.

`import_hikari()` imports the three packages with an empty body and a PEP 562 `__getattr__`:

- a name that is a submodule (`from hikari import errors`, `hikari.impl.shard`) imports only that
  submodule, as the import system does anyway;
- any other name (`hikari.GatewayBot`, `hikari.Intents`) runs the package's real `__init__` into
  the same module first (everything is then loaded, as with a plain `import hikari`) and returns it.

So code that uses hikari the usual way still works, it just pays for all of hikari again; the
channel imports what it needs from the submodules. Nothing of hikari's own source is changed.

The installed version must be in `TESTED_RANGE` (tests/integration/test_hikari_lean.py and the
Discord flows run on it); outside it, or with `RUSTYCLAW_HIKARI_EAGER=1`, hikari is imported
unchanged. Either way the channel's code is the same.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import linecache
import os
import sys
import threading
from collections.abc import Sequence
from importlib import metadata
from types import ModuleType
from typing import Any

TESTED_RANGE = ((2, 7), (2, 8))  # >= 2.7, < 2.8
EAGER_ENV = "RUSTYCLAW_HIKARI_EAGER"
LEAN_PACKAGES = ("hikari", "hikari.api", "hikari.impl")
# Names whose lookup must not run the full `__init__` (the import system and tools probe them).
CHANNEL_MODULES = ("hikari.applications", "hikari.errors", "hikari.files", "hikari.intents",
                   "hikari.undefined", "hikari.impl.config", "hikari.impl.rest", "hikari.impl.shard")
_PROBED = frozenset({"__path__", "__file__", "__spec__", "__loader__", "__wrapped__", "__getattr__"})

_lock = threading.RLock()


def hikari_version() -> tuple[int, ...]:
    """The installed hikari's version as integers (without importing it)."""
    try:
        text = metadata.version("hikari")
    except metadata.PackageNotFoundError as exc:
        raise ModuleNotFoundError("No module named 'hikari'", name="hikari") from exc
    parts: list[int] = []
    for piece in text.split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


def is_tested(version: Sequence[int]) -> bool:
    low, high = TESTED_RANGE
    return tuple(low) <= tuple(version)[:2] < tuple(high)


def is_lean(package: ModuleType) -> bool:
    """Whether `package` still lacks its real `__init__` (nothing beyond the submodules asked for)."""
    return bool(vars(package).get("__rustyclaw_lean__", False))


def _package_attribute(package: ModuleType, loader: importlib.abc.Loader, name: str) -> Any:
    """`package.<name>` for a lean package: a submodule alone, else after the real `__init__` ran."""
    if name in _PROBED:
        raise AttributeError(f"module {package.__name__!r} has no attribute {name!r}")
    namespace = vars(package)
    if not name.startswith("__"):
        spec = importlib.machinery.PathFinder.find_spec(f"{package.__name__}.{name}", namespace.get("__path__"))
        if spec is not None:
            return importlib.import_module(f"{package.__name__}.{name}")
    with _lock:
        if namespace.get("__rustyclaw_lean__") == "running":  # a name the real __init__ itself asks for first
            raise AttributeError(f"module {package.__name__!r} has no attribute {name!r}")
        if namespace.get("__rustyclaw_lean__"):
            namespace["__rustyclaw_lean__"] = "running"
            try:
                loader.exec_module(package)  # the package's own __init__, into the same module
            except BaseException:
                namespace["__rustyclaw_lean__"] = True
                raise
            namespace.pop("__getattr__", None)
            namespace.pop("__rustyclaw_lean__", None)
    try:
        return namespace[name]
    except KeyError:
        raise AttributeError(f"module {package.__name__!r} has no attribute {name!r}") from None


class _LeanPackageLoader(importlib.abc.Loader):
    """Creates the package as its own loader would, without running its `__init__` yet."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self._loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        loader = self._loader

        def __getattr__(name: str) -> Any:
            return _package_attribute(module, loader, name)

        vars(module)["__getattr__"] = __getattr__
        vars(module)["__rustyclaw_lean__"] = True

    def __getattr__(self, name: str) -> Any:  # get_source, is_package, get_resource_reader, ...
        return getattr(self._loader, name)


class _NoAttrsSource(dict):  # type: ignore[type-arg]
    """`linecache.cache` during the import, without the source of the methods attrs generates.

    attrs puts each generated method's source (`__init__`, `__eq__`, `__repr__`, ... of hikari's
    ~800 attrs classes) into linecache so that a debugger can show it: about 1 MB for hikari.
    Tracebacks through those methods still name them, without a source line.
    """

    def setdefault(self, key: Any, default: Any = None) -> Any:
        if _is_attrs_source(key):
            return default  # attrs then takes the name as its own (it compares to what it offered)
        return super().setdefault(key, default)

    def __setitem__(self, key: Any, value: Any) -> None:
        if not _is_attrs_source(key):
            super().__setitem__(key, value)


def _is_attrs_source(key: Any) -> bool:
    return isinstance(key, str) and key.startswith("<attrs generated")


class _HikariHook(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
                  ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in LEAN_PACKAGES:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None or not spec.submodule_search_locations:
            return None
        spec.loader = _LeanPackageLoader(spec.loader)
        return spec


def import_hikari() -> ModuleType:
    """Imports hikari (once per process; lean when the version is tested) and returns the `hikari` module.

    Thread-safe; meant to run in a worker thread. The channel's modules (`hikari.impl.shard`,
    `hikari.impl.rest`, the errors, files, intents) are imported here too, so that nothing imports
    later in the event loop.
    """
    with _lock:
        loaded = sys.modules.get("hikari")
        if loaded is not None:
            _import_channel_modules()
            return loaded
        if os.environ.get(EAGER_ENV) == "1" or not is_tested(hikari_version()):
            import hikari

            _import_channel_modules()
            return hikari
        hook = _HikariHook()
        sys.meta_path.insert(0, hook)
        cache = linecache.cache
        linecache.cache = _NoAttrsSource(cache)
        try:
            import hikari

            _import_channel_modules()  # inside: hikari.api and hikari.impl load lean too
        except BaseException:
            for name in [n for n in sys.modules if n == "hikari" or n.startswith("hikari.")]:
                del sys.modules[name]  # a later, eager import must not find half a package
            raise
        finally:
            sys.meta_path.remove(hook)
            if isinstance(linecache.cache, _NoAttrsSource):
                cache.update(linecache.cache)  # what other threads cached meanwhile
                linecache.cache = cache
        return hikari


def _import_channel_modules() -> None:
    """What the Discord channel uses; each submodule alone (in a lean package nothing else loads)."""
    for name in CHANNEL_MODULES:
        importlib.import_module(name)
