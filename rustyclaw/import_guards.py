"""Keeps the first imports of httpx and granian in `rustyclaw serve` from loading code the gateway never runs.

Measured on `rustyclaw serve` (2026-12-03; in an interpreter that had imported asyncio, ssl, anyio):

- ``import httpx`` (+ httpcore, which it imports at its first transport, i.e. the first model call)
  added 15.3 MB of RSS and 464 modules; with these guards, 5.0 MB.
  ``httpx/__init__.py`` imports ``httpx._main``, its command-line client, which imports click and,
  when they are installed, rich and pygments (+6.2 MB). click is always installed here (granian
  depends on it); rich comes with typer, schemathesis and others. The gateway never calls
  ``httpx.main`` (the ``httpx`` console script runs in a process of its own), and httpx falls back
  to a stub ``main`` when the import fails, so a ``None`` in ``sys.modules`` is enough.
  ``httpcore._synchronization`` and ``httpcore._backends.trio`` import trio when it is installed
  (+3.7 MB; a test dependency here, not one of RustyClaw's), to use it under a trio event loop only;
  the gateway runs on asyncio (anyio's asyncio backend).
- granian's package (imported when the HTTP server is built, at start) imports uvloop for its loop
  registry and watchfiles for the multi-process server's reloader, both optional to granian (it
  catches the ImportError); the embedded server RustyClaw runs uses neither (it runs on the
  gateway's own loop and refuses reload). 6.9 -> 5.0 MB.

Those optional modules are hidden only while the package that would import them executes, so a
later ``import trio`` (or uvloop, watchfiles) anywhere else still works. `install` runs first thing
in `rustyclaw serve`, before anything imports httpx or granian.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from collections.abc import Sequence
from types import ModuleType

# Package -> optional modules hidden (as "not installed") while that package's __init__ executes,
# with everything it imports.
HIDDEN_DURING: dict[str, tuple[str, ...]] = {
    "httpx": ("trio",),
    "httpcore": ("trio",),
    "granian": ("uvloop", "watchfiles"),
}


class _HidingLoader(importlib.abc.Loader):
    """Runs a package's real loader with some optional modules absent from ``sys.modules``."""

    def __init__(self, real: importlib.abc.Loader, hide: tuple[str, ...]) -> None:
        self._real = real
        self._hide = hide

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._real.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        hidden = [name for name in self._hide if name not in sys.modules]
        for name in hidden:
            sys.modules[name] = None  # type: ignore[assignment]  # "not installed", for this import only
        try:
            self._real.exec_module(module)
        finally:
            for name in hidden:
                if name in sys.modules and sys.modules[name] is None:
                    del sys.modules[name]

    def __getattr__(self, name: str) -> object:
        # Everything else a loader offers (get_resource_reader, is_package, ...) is the real loader's.
        return getattr(self._real, name)


class _GuardFinder(importlib.abc.MetaPathFinder):
    """Finds the `HIDDEN_DURING` packages with the path finder and wraps their loaders, once each."""

    def __init__(self) -> None:
        self._left = set(HIDDEN_DURING)

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in self._left:
            return None
        self._left.discard(fullname)
        if not self._left:
            sys.meta_path.remove(self)  # nothing left to guard: out of every later import's way
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        if spec is None or spec.loader is None:
            return spec
        spec.loader = _HidingLoader(spec.loader, HIDDEN_DURING[fullname])
        return spec


def install() -> None:
    """Hides httpx's CLI for the process and the optional modules above during their packages' imports.

    A package already imported is left as it is (its imports have happened).
    """
    if "httpx" not in sys.modules:
        sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]  # httpx falls back to a stub main()
    if any(isinstance(finder, _GuardFinder) for finder in sys.meta_path):
        return
    finder = _GuardFinder()
    finder._left -= set(sys.modules)
    if finder._left:
        sys.meta_path.insert(0, finder)
