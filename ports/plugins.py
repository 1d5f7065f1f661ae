"""Plugins: the runtimes that load them, the host API they call, and the hook the gateway calls."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

import msgspec

from rustyclaw.domain.events import Reply
from rustyclaw.domain.messages import InboundMessage, OutboundMessage
from rustyclaw.domain.plugins import HandlerResult, PluginEvent, PluginHooks, PluginManifest

# `web.fetch` goes through this: (url) -> (status, content type, text). The composition root
# passes the SSRF-guarded fetcher of the web_fetch tool.
Fetch = Callable[[str], Awaitable[tuple[int, str, str]]]
# `messaging.send` goes through this (the channel supervisor's delivery).
Send = Callable[[OutboundMessage], Awaitable[None]]


class PluginLimitsResolved(msgspec.Struct, frozen=True, kw_only=True):
    """The limits a plugin runs under: its manifest's requests capped by the gateway's config."""

    memory_bytes: int
    fuel: int
    timeout_seconds: float


class PluginSource(msgspec.Struct, frozen=True, kw_only=True):
    """A plugin found on disk, checked, with its validated config; what a runtime loads."""

    manifest: PluginManifest
    folder: Path
    config: dict[str, Any]
    limits: PluginLimitsResolved

    @property
    def entry_path(self) -> Path:
        return self.folder / self.manifest.entry


class PluginKV(Protocol):
    """Each plugin's own key-value space (the `storage.*` host API); values are JSON values.

    `set` raises PluginError when the plugin's space would outgrow its limit; `delete` says
    whether the key was there.
    """

    async def get(self, plugin: str, key: str) -> Any: ...

    async def keys(self, plugin: str) -> list[str]: ...

    async def set(self, plugin: str, key: str, value: Any) -> None: ...

    async def delete(self, plugin: str, key: str) -> bool: ...


class HostApi(Protocol):
    """What plugins may ask of the gateway; the same object serves both runtimes.

    `call` checks the manifest's permissions before anything else: a call without its permission
    raises PluginPermissionError and never reaches the LLM, the store, a channel or the network.
    Other failures raise PluginError with a message meant for the plugin.
    """

    async def call(self, manifest: PluginManifest, api: str, args: dict[str, Any]) -> Any: ...


class PluginInstance(Protocol):
    """One loaded plugin. `handle` never raises for a plugin's own failure: it logs it and
    returns a HandlerResult with `error` set (the dispatcher treats that as `pass`)."""

    @property
    def name(self) -> str: ...

    @property
    def hooks(self) -> PluginHooks: ...

    async def start(self) -> None:
        """Instantiates the plugin and runs its on_start; raises PluginError when it cannot load."""
        ...

    async def handle(self, event: PluginEvent) -> HandlerResult: ...

    async def aclose(self) -> None:
        """Runs on_stop (errors logged) and releases the instance."""
        ...


class PluginRuntime(Protocol):
    """Makes instances of one runtime kind (`wasm`, `python`)."""

    kind: str

    def load(self, source: PluginSource, host: HostApi) -> PluginInstance: ...


class TurnHooks(Protocol):
    """What the Gateway calls after access and validation, before commands and the agent."""

    async def before_turn(self, message: InboundMessage, session_key: str) -> InboundMessage | Reply | None:
        """None: go on unchanged; an InboundMessage: go on with it; a Reply: answer with it."""
        ...
