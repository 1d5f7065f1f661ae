"""Imports aiogram without building its ~800 pydantic validators up front (the Telegram channel's memory).

aiogram 3 builds a pydantic-core validator for every Bot API type and method while it is imported:
`aiogram/types/__init__.py` ends with a loop calling `model_rebuild()` on each type (with aiogram's
own namespace, so that the forward references behind `TYPE_CHECKING` resolve), and
`aiogram.methods.base.TelegramMethod` lacks `defer_build`, so every method builds as its class is
created. That is about 150 MB of RSS and seconds of CPU for a bot that uses a dozen of them.

`import_aiogram()` imports aiogram with two small changes, made by an import hook that is active
only for the duration of the import:

- while `aiogram.types` runs, `TelegramObject.model_rebuild` records the namespace the loop passes
  and attaches it to each type as its pydantic parent namespace instead of building;
- after `aiogram.methods.base` runs, `TelegramMethod` gets `defer_build=True` (inherited by every
  method), and every method and `Response` gets the same namespace once `aiogram.methods` is done.

Two more changes run a module's own source with exact lines replaced (`_REWRITES`); a module whose
source no longer has one of those lines loads unchanged (it then costs its memory, nothing breaks):

- `unittest.mock` (about 1.4 MB with `unittest`, `difflib`, `pprint`, `argparse`) stays out of the
  process: `aiogram.types.base` and `aiogram.dispatcher.event.bases` import only its `sentinel`, so
  that line imports `sentinel` from here instead (`_Sentinels`: the same named, identity-preserving
  objects, copied and pickled as themselves);
- `aiogram/__init__.py` no longer imports the dispatcher (`Dispatcher`, `Router`, `BaseMiddleware`,
  `F`, `flags`: the dispatcher, fsm, filters, handlers and magic_filter, about 1 MB a Bot does not
  use): those names load on first access (`aiogram_attribute`, the package's PEP 562 `__getattr__`);
- `aiogram.utils.text_decorations` imports the standard library's `html` (0.3 MB with `html.entities`)
  on its first `html.escape`, when a text is HTML-quoted (`_LazyModule`), not at import; the same
  for `secrets` in `aiogram.client.session.base` (hmac, hashlib and _hashlib, 0.6 MB, for the
  multipart boundary of a file upload).

A model is then built by pydantic itself the first time it validates (pydantic's own deferred
build, which resolves the forward references through that namespace), so `Update`, `GetUpdates`,
`SendMessage` and what they contain are built, the other ~700 models never are.

The shim relies on aiogram internals, so it checks them and fails loudly (`AiogramLeanError`)
rather than importing something half-patched: the installed version must be in `TESTED_RANGE`,
the rebuild loop must have been seen, and the models must really be deferred afterwards.
`RUSTYCLAW_AIOGRAM_EAGER=1` imports aiogram unchanged (the escape hatch if a user must run an
untested aiogram). tests/integration/test_aiogram_lean.py validates real updates and calls real
methods through the Telegram stand-in with the shim applied.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
import threading
from collections.abc import Callable, Sequence
from importlib import metadata
from types import ModuleType
from typing import Any

from rustyclaw.domain.errors import ChannelError

# The aiogram releases this shim was tested on (tests/integration/test_aiogram_lean.py); the
# `telegram` extra pins the same range.
TESTED_RANGE = ((3, 31), (3, 32))  # >= 3.31, < 3.32
EAGER_ENV = "RUSTYCLAW_AIOGRAM_EAGER"

_lock = threading.RLock()


class AiogramLeanError(ChannelError):
    """aiogram is not what the lean import was written for (version or internals changed)."""


def aiogram_version() -> tuple[int, ...]:
    """The installed aiogram's version as integers (without importing it)."""
    try:
        text = metadata.version("aiogram")
    except metadata.PackageNotFoundError as exc:
        raise ModuleNotFoundError("No module named 'aiogram'", name="aiogram") from exc
    parts: list[int] = []
    for piece in text.split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


def check_version(version: Sequence[int]) -> None:
    low, high = TESTED_RANGE
    if not (tuple(low) <= tuple(version)[:2] < tuple(high)):
        shown = ".".join(map(str, version))
        raise AiogramLeanError(
            f"aiogram {shown} is outside the range the lean import was tested on "
            f"(>= {low[0]}.{low[1]}, < {high[0]}.{high[1]}): install rustyclaw[telegram] for a tested aiogram, "
            f"or set {EAGER_ENV}=1 to import it unchanged (about 150 MB more memory)"
        )


class _Patch:
    """What the hook saw and changed during one import (for the checks afterwards)."""

    def __init__(self) -> None:
        self.namespace: dict[str, Any] | None = None
        self.deferred_types = 0
        self.methods_deferred = False


class _SentinelObject:
    """One named sentinel, as `unittest.mock.sentinel.<name>` makes it."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"sentinel.{self.name}"

    def __reduce__(self) -> str:  # copy, deepcopy (pydantic's defaults) and pickle give the object itself
        return f"sentinel.{self.name}"


class _Sentinels:
    """`unittest.mock.sentinel` without unittest: ``sentinel.NAME`` is the same object for one name."""

    def __init__(self) -> None:
        self._made: dict[str, _SentinelObject] = {}

    def __getattr__(self, name: str) -> _SentinelObject:
        if name.startswith("__"):  # (mock's refuses __bases__ alone; dunders are never sentinels here)
            raise AttributeError(name)
        with _lock:
            return self._made.setdefault(name, _SentinelObject(name))

    def __reduce__(self) -> str:
        return "sentinel"


sentinel: Any = _Sentinels()

class _LazyModule:
    """Stands for a module that is imported on the first attribute read from it."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        return getattr(importlib.import_module(self._name), attribute)


html_module: Any = _LazyModule("html")
# `secrets` imports hmac, hashlib and OpenSSL's _hashlib (about 0.6 MB) for the one token aiogram
# makes when a method uploads a file.
secrets_module: Any = _LazyModule("secrets")

_SENTINEL = (("from unittest.mock import sentinel\n",
              "from rustyclaw.adapters.channels.aiogram_lean import sentinel\n"),)
# The lazy names of `aiogram` (see aiogram_attribute): (module, attribute), or a factory's name.
_LAZY_ATTRIBUTES: dict[str, tuple[str, str]] = {
    "FlagGenerator": ("aiogram.dispatcher.flags", "FlagGenerator"),
    "Dispatcher": ("aiogram.dispatcher.dispatcher", "Dispatcher"),
    "BaseMiddleware": ("aiogram.dispatcher.middlewares.base", "BaseMiddleware"),
    "Router": ("aiogram.dispatcher.router", "Router"),
    "MagicFilter": ("aiogram.utils.magic_filter", "MagicFilter"),
}
_LAZY_INSTANCES = {"F": "MagicFilter", "flags": "FlagGenerator"}
# Exact source lines replaced, per module (each must occur exactly once, else the module loads unchanged).
_REWRITES: dict[str, tuple[tuple[str, str], ...]] = {
    "aiogram.types.base": _SENTINEL,
    "aiogram.dispatcher.event.bases": _SENTINEL,
    "aiogram.utils.text_decorations": (
        ("import html\n", "from rustyclaw.adapters.channels.aiogram_lean import html_module as html\n"),
    ),
    "aiogram.client.session.base": (
        ("import secrets\n", "from rustyclaw.adapters.channels.aiogram_lean import secrets_module as secrets\n"),
    ),
    "aiogram": (
        ("from aiogram.dispatcher.flags import FlagGenerator\n", ""),
        ("from .dispatcher.dispatcher import Dispatcher\n", ""),
        ("from .dispatcher.middlewares.base import BaseMiddleware\n", ""),
        ("from .dispatcher.router import Router\n", ""),
        ("from .utils.magic_filter import MagicFilter\n", ""),
        ("F = MagicFilter()\n", ""),
        ("flags = FlagGenerator()\n",
         "from rustyclaw.adapters.channels.aiogram_lean import aiogram_attribute as __getattr__\n"),
    ),
}


def aiogram_attribute(name: str) -> Any:
    """`aiogram.<name>` for the names the lean `aiogram/__init__` no longer imports (PEP 562)."""
    module = sys.modules["aiogram"]
    if name in _LAZY_ATTRIBUTES:
        where, attribute = _LAZY_ATTRIBUTES[name]
        value = getattr(importlib.import_module(where), attribute)
    elif name in _LAZY_INSTANCES:
        value = getattr(module, _LAZY_INSTANCES[name])()
    else:
        raise AttributeError(f"module 'aiogram' has no attribute {name!r}")
    return vars(module).setdefault(name, value)  # one F for every thread that asked at once


def _exec_rewritten(loader: importlib.abc.Loader, module: ModuleType, rewrites: tuple[tuple[str, str], ...]) -> bool:
    """Runs the module's own source with `rewrites` applied; False (nothing run) when the source
    cannot be read or one of the lines is not there exactly once."""
    get_source = getattr(loader, "get_source", None)
    try:
        source = get_source(module.__name__) if get_source is not None else None
    except ImportError:
        source = None
    if not source or any(source.count(old) != 1 for old, _ in rewrites):
        return False
    for old, new in rewrites:
        source = source.replace(old, new)
    origin = getattr(module, "__file__", None) or module.__name__
    exec(compile(source, origin, "exec", dont_inherit=True), module.__dict__)  # aiogram's source, lines changed
    return True


def _wrap_loader(spec: importlib.machinery.ModuleSpec, before: Callable[[], None] | None,
                 after: Callable[[ModuleType], None] | None, *, rewrites: tuple[tuple[str, str], ...] = (),
                 ) -> importlib.machinery.ModuleSpec:
    if spec.loader is None:
        raise AiogramLeanError(f"{spec.name} has no loader")
    loader: importlib.abc.Loader = spec.loader

    class _Loader(importlib.abc.Loader):
        def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
            return loader.create_module(spec)

        def exec_module(self, module: ModuleType) -> None:
            if before is not None:
                before()
            if not (rewrites and _exec_rewritten(loader, module, rewrites)):
                loader.exec_module(module)
            if after is not None:
                after(module)

        def __getattr__(self, name: str) -> Any:  # get_source, get_resource_reader, is_package, ...
            return getattr(loader, name)

    spec.loader = _Loader()
    return spec


class _AiogramHook(importlib.abc.MetaPathFinder):
    """Finds three aiogram modules through the normal path finder and runs code around their execution."""

    def __init__(self, patch: _Patch) -> None:
        self._patch = patch

    def find_spec(self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
                  ) -> importlib.machinery.ModuleSpec | None:
        hooks: dict[str, tuple[Callable[[], None] | None, Callable[[ModuleType], None] | None]] = {
            "aiogram.types": (None, self._types_done),
            "aiogram.types.base": (None, self._types_base_done),
            "aiogram.methods.base": (None, self._methods_base_done),
            "aiogram.methods": (None, self._methods_done),
        }
        if fullname == _AIOHTTP_SESSION:
            # aiogram.client.bot imports its default aiohttp session at module level (aiohttp is
            # about 10 MB): a stand-in module loads the real one only if something asks for it.
            return importlib.machinery.ModuleSpec(fullname, _LazyAiohttpLoader(), is_package=False)
        if fullname not in hooks and fullname not in _REWRITES:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return None
        before, after = hooks.get(fullname, (None, None))
        return _wrap_loader(spec, before, after, rewrites=_REWRITES.get(fullname, ()))

    def _types_base_done(self, module: ModuleType) -> None:
        base = _required(module, "TelegramObject", "aiogram.types.base")
        patch = self._patch

        def model_rebuild(cls: Any, /, *, _types_namespace: dict[str, Any] | None = None, **kwargs: Any) -> Any:
            if _types_namespace is None or cls.__pydantic_complete__:
                return original.__func__(cls, _types_namespace=_types_namespace, **kwargs)
            # The rebuild loop: keep the namespace for pydantic's own deferred build instead.
            patch.namespace = _types_namespace
            cls.__pydantic_parent_namespace__ = _types_namespace
            patch.deferred_types += 1
            return None

        original = base.model_rebuild
        base.model_rebuild = classmethod(model_rebuild)

    def _types_done(self, module: ModuleType) -> None:
        base = _required(sys.modules.get("aiogram.types.base"), "TelegramObject", "aiogram.types.base")
        if "model_rebuild" in vars(base):
            del base.model_rebuild  # back to pydantic's own classmethod
        if self._patch.namespace is None:
            raise AiogramLeanError(
                "aiogram.types no longer ends with its model_rebuild loop: the lean import does not fit this "
                f"aiogram; set {EAGER_ENV}=1 to import it unchanged"
            )

    def _methods_base_done(self, module: ModuleType) -> None:
        method = _required(module, "TelegramMethod", "aiogram.methods.base")
        config = getattr(method, "model_config", None)
        if not isinstance(config, dict):
            raise AiogramLeanError("aiogram.methods.base.TelegramMethod has no model_config dict any more")
        config["defer_build"] = True  # inherited by every method class created after this
        self._patch.methods_deferred = True

    def _methods_done(self, module: ModuleType) -> None:
        namespace = self._patch.namespace
        if namespace is None:
            raise AiogramLeanError("aiogram.methods was imported before aiogram.types finished")
        names = list(getattr(module, "__all__", ()))
        for name in [*names, "Response"]:
            cls = getattr(module, name, None)
            if isinstance(cls, type) and hasattr(cls, "__pydantic_parent_namespace__"):
                cls.__pydantic_parent_namespace__ = namespace


_AIOHTTP_SESSION = "aiogram.client.session.aiohttp"


def _load_real_aiohttp_session() -> ModuleType:
    """Replaces the stand-in with aiogram's real aiohttp session module (imports aiohttp)."""
    with _lock:
        current = sys.modules.get(_AIOHTTP_SESSION)
        if current is not None and not getattr(current, "__rustyclaw_stand_in__", False):
            return current
        package = sys.modules["aiogram.client.session"]
        spec = importlib.machinery.PathFinder.find_spec(_AIOHTTP_SESSION, package.__path__)
        if spec is None or spec.loader is None:
            raise AiogramLeanError(f"{_AIOHTTP_SESSION} cannot be found in this aiogram")
        module = importlib.util.module_from_spec(spec)
        sys.modules[_AIOHTTP_SESSION] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            if current is not None:
                sys.modules[_AIOHTTP_SESSION] = current
            raise
        package.aiohttp = module  # type: ignore[attr-defined]
        return module


class _LazyAiohttpLoader(importlib.abc.Loader):
    """Makes the stand-in for `aiogram.client.session.aiohttp`."""

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return None

    def exec_module(self, module: ModuleType) -> None:
        class AiohttpSession:
            """Stand-in: building one imports aiohttp and returns aiogram's real AiohttpSession."""

            def __new__(cls, *args: Any, **kwargs: Any) -> Any:
                real: Any = _load_real_aiohttp_session().AiohttpSession
                return real(*args, **kwargs)

        def __getattr__(name: str) -> Any:
            if name.startswith("__"):  # the import system probes __path__ and friends
                raise AttributeError(name)
            return getattr(_load_real_aiohttp_session(), name)

        module.AiohttpSession = AiohttpSession  # type: ignore[attr-defined]
        setattr(module, "__getattr__", __getattr__)  # noqa: B010  (a module-level __getattr__, PEP 562)
        module.__rustyclaw_stand_in__ = True  # type: ignore[attr-defined]


def aiohttp_loaded() -> bool:
    """Whether aiohttp itself has been imported in this process."""
    return "aiohttp" in sys.modules


def _required(module: ModuleType | None, name: str, where: str) -> Any:
    value = getattr(module, name, None)
    if value is None:
        raise AiogramLeanError(f"{where}.{name} is gone: the lean import does not fit this aiogram")
    return value


def _verify(patch: _Patch) -> None:
    from aiogram import methods, types

    if not patch.methods_deferred or patch.deferred_types < 100:
        raise AiogramLeanError(
            f"the lean import deferred only {patch.deferred_types} aiogram types; aiogram's internals changed"
        )
    for cls in (types.Update, types.Message, methods.SendMessage, methods.GetUpdates):
        if cls.__pydantic_complete__:
            raise AiogramLeanError(f"aiogram {cls.__name__} was built at import although the lean import defers it")


def import_aiogram() -> ModuleType:
    """Imports aiogram (once per process) with its validators deferred; returns the `aiogram` module.

    Thread-safe; meant to run in a worker thread (it still takes about a second of CPU).
    """
    with _lock:
        loaded = sys.modules.get("aiogram")
        if loaded is not None and hasattr(loaded, "Bot"):
            return loaded
        if os.environ.get(EAGER_ENV) == "1":
            import aiogram

            return aiogram
        if any(name == "aiogram" or name.startswith("aiogram.") for name in sys.modules):
            raise AiogramLeanError("aiogram is partly imported already; the lean import must come first")
        check_version(aiogram_version())
        patch = _Patch()
        hook = _AiogramHook(patch)
        sys.meta_path.insert(0, hook)
        try:
            import aiogram
        except BaseException:
            for name in [n for n in sys.modules if n == "aiogram" or n.startswith("aiogram.")]:
                del sys.modules[name]  # a later, eager import must not find half a package
            raise
        finally:
            sys.meta_path.remove(hook)
        _verify(patch)
        return aiogram


def model_is_built(cls: type[Any]) -> bool:
    """Whether a pydantic model's validator exists already (for tests and benchmarks)."""
    return bool(getattr(cls, "__pydantic_complete__", False))
