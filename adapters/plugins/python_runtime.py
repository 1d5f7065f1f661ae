"""Python plugins: trusted modules imported from their folder, handlers found by SDK decorators.

Python plugins run in the gateway's process and can do anything Python can; the manifest's
permissions shape their `host` API (the same checks as for WASM), they are not a sandbox. What the
runtime guarantees is containment: an exception in a handler is logged and counts as `pass`, and an
async handler is cancelled after the timeout. (A plain `def` handler that blocks cannot be
interrupted; trusted code is expected to behave.)
"""

from __future__ import annotations

import importlib.util
import inspect
import logging
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any

import anyio

from rustyclaw.domain.plugins import (
    CommandEvent,
    CronEvent,
    CronHook,
    HandlerResult,
    MessageEvent,
    PluginError,
    PluginEvent,
    PluginHooks,
    StartEvent,
    StopEvent,
)
from rustyclaw.plugin_sdk import HOOK_ATTRIBUTE, HookMark, Host
from rustyclaw.ports.plugins import HostApi, PluginSource

log = logging.getLogger("rustyclaw.plugins")

Handler = Callable[..., Any]
MODULE_PREFIX = "rustyclaw_plugins."


class Handlers:
    """A module's decorated functions, by event kind."""

    def __init__(self) -> None:
        self.on_message: Handler | None = None
        self.commands: dict[str, Handler] = {}
        self.cron: dict[str, tuple[HookMark, Handler]] = {}
        self.on_start: list[Handler] = []
        self.on_stop: list[Handler] = []

    @classmethod
    def collect(cls, module: ModuleType, plugin: str) -> Handlers:
        found = cls()
        for value in vars(module).values():
            marks: list[HookMark] = getattr(value, HOOK_ATTRIBUTE, [])
            if not callable(value) or not isinstance(marks, list):
                continue
            for mark in marks:
                if mark.kind == "on_message":
                    if found.on_message is not None:
                        raise PluginError(f"plugin {plugin}: more than one @on_message handler")
                    found.on_message = value
                elif mark.kind == "command" and mark.name:
                    found.commands[mark.name] = value
                elif mark.kind == "cron" and mark.name:
                    found.cron[mark.name] = (mark, value)
                elif mark.kind == "on_start":
                    found.on_start.append(value)
                elif mark.kind == "on_stop":
                    found.on_stop.append(value)
        return found

    def hooks(self) -> PluginHooks:
        cron = []
        for job_id, (mark, _) in self.cron.items():
            spec = mark.schedule
            assert spec is not None
            cron.append(CronHook(id=job_id, cron=spec.cron, every=spec.every, at=spec.at))
        return PluginHooks(
            on_message=self.on_message is not None, commands=sorted(self.commands), cron=cron,
            on_start=bool(self.on_start), on_stop=bool(self.on_stop),
        )


def import_plugin_module(source: PluginSource) -> ModuleType:
    """Imports the entry file as `rustyclaw_plugins.<name>` (a fresh module each time)."""
    path = source.entry_path
    name = MODULE_PREFIX + source.manifest.name.replace("-", "_")
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise PluginError(f"plugin {source.manifest.name}: {path} is not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except FileNotFoundError as exc:
        sys.modules.pop(name, None)
        raise PluginError(f"plugin {source.manifest.name}: {path} does not exist") from exc
    except Exception as exc:
        sys.modules.pop(name, None)
        raise PluginError(f"plugin {source.manifest.name}: importing {path} failed: {exc!r}") from exc
    return module


class PythonPlugin:
    """A PluginInstance running one trusted Python module (see the module docstring)."""

    def __init__(self, source: PluginSource, host_api: HostApi) -> None:
        self.source = source
        self.manifest = source.manifest
        self.host = Host(host_api, source.manifest, source.config)
        self._handlers = Handlers()
        self._hooks = PluginHooks()
        self.failures = 0

    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def hooks(self) -> PluginHooks:
        return self._hooks

    async def start(self) -> None:
        module = import_plugin_module(self.source)
        self._handlers = Handlers.collect(module, self.name)
        self._hooks = self._handlers.hooks()
        for fn in self._handlers.on_start:
            try:
                await self._invoke(fn, self.host)
            except Exception as exc:
                raise PluginError(f"plugin {self.name}: on_start failed: {exc!r}") from exc

    async def aclose(self) -> None:
        for fn in self._handlers.on_stop:
            try:
                await self._invoke(fn, self.host)
            except Exception as exc:
                log.warning("plugin %s: on_stop failed: %r", self.name, exc)
        sys.modules.pop(MODULE_PREFIX + self.name.replace("-", "_"), None)

    async def handle(self, event: PluginEvent) -> HandlerResult:
        try:
            return await self._dispatch(event)
        except Exception as exc:  # contained: logged, and the turn goes on
            self.failures += 1
            log.warning("plugin %s: %s handler raised %r", self.name, type(event).__name__, exc,
                        exc_info=exc)
            return HandlerResult(error=f"{type(exc).__name__}: {exc}")

    async def _dispatch(self, event: PluginEvent) -> HandlerResult:
        h = self._handlers
        if isinstance(event, MessageEvent):
            if h.on_message is None:
                return HandlerResult()
            return _as_message_result(await self._invoke(h.on_message, event.message, self.host))
        if isinstance(event, CommandEvent):
            fn = h.commands.get(event.command)
            if fn is None:
                return HandlerResult(error=f"no handler for /{event.command}")
            value = await self._invoke(fn, event.args, event.message, self.host)
            if isinstance(value, HandlerResult):
                return value
            return HandlerResult(action="reply", text=None if value is None else str(value))
        if isinstance(event, CronEvent):
            entry = h.cron.get(event.job)
            if entry is None:
                return HandlerResult(error=f"no cron handler {event.job!r}")
            await self._invoke(entry[1], self.host)
            return HandlerResult()
        if isinstance(event, StartEvent | StopEvent):
            for fn in h.on_start if isinstance(event, StartEvent) else h.on_stop:
                await self._invoke(fn, self.host)
            return HandlerResult()
        return HandlerResult(error=f"unknown event {type(event).__name__}")

    async def _invoke(self, fn: Handler, *args: Any) -> Any:
        with anyio.fail_after(self.source.limits.timeout_seconds):
            value = fn(*args)
            if inspect.isawaitable(value):
                value = await value
        return value


def _as_message_result(value: Any) -> HandlerResult:
    if value is None:
        return HandlerResult()
    if isinstance(value, HandlerResult):
        return value
    raise PluginError(f"on_message returned {type(value).__name__}; return None, rewrite(text) or reply(text)")


class PythonRuntime:
    """The PluginRuntime for `runtime: python`."""

    kind = "python"

    def load(self, source: PluginSource, host: HostApi) -> PythonPlugin:
        return PythonPlugin(source, host)
