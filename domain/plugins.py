"""Plugins, the pure part: manifests, permissions, config checks, events, and the dispatch rules.

A plugin is a folder with a `manifest.json` (see `PluginManifest`). Both runtimes (WASM and Python)
receive the same events and answer with the same `HandlerResult`:

- `MessageEvent` (`on_message`): sees every message that passed access and is not a built-in
  command, before the agent. It may pass it on, rewrite its text (the next plugin sees the new
  text), or answer it (the agent is not asked; later plugins do not see it).
- `CommandEvent` (`command`): `/name args` for a name the plugin declared. Built-in command names
  cannot be taken; when two plugins declare one name the first loaded keeps it.
- `CronEvent` (`cron`): a schedule of the plugin's fired.
- `StartEvent` / `StopEvent` (`on_start` / `on_stop`): when the gateway starts and stops.

A handler that fails (raises, traps, runs out of time or memory) counts as `pass`; the turn goes on.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import msgspec

from rustyclaw.domain import commands
from rustyclaw.domain.cron import ScheduleSpec
from rustyclaw.domain.errors import RustyClawError
from rustyclaw.domain.events import Reply
from rustyclaw.domain.messages import ChatKind, InboundMessage

if TYPE_CHECKING:
    from rustyclaw.ports.plugins import PluginInstance

log = logging.getLogger("rustyclaw.plugins")

Permission = Literal["llm", "storage", "messaging", "web"]
PERMISSIONS: tuple[str, ...] = ("llm", "storage", "messaging", "web")
Runtime = Literal["wasm", "python"]

# Host API name -> the permission it needs (None: always allowed).
API_PERMISSIONS: dict[str, Permission | None] = {
    "log": None,
    "config.get": None,
    "llm.complete": "llm",
    "storage.get": "storage",
    "storage.set": "storage",
    "storage.delete": "storage",
    "storage.keys": "storage",
    "messaging.send": "messaging",
    "web.fetch": "web",
}

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_COMMAND = re.compile(r"^[a-z0-9][a-z0-9_]{0,31}$")


class PluginError(RustyClawError):
    """A plugin failed to load or to run; the message names the plugin."""


class PluginPermissionError(PluginError):
    """A host API was called without the manifest permission it needs; the host was not reached."""


class PluginConfigError(PluginError):
    """A plugin's config does not match its `configSchema`; the message names the key path."""


class CronHook(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """A schedule a plugin declares: `{"id": "tick", "every": "5m"}` (or `cron` / `at`)."""

    id: str
    cron: str | None = None
    every: str | None = None
    at: str | None = None

    def spec(self) -> ScheduleSpec:
        return ScheduleSpec(cron=self.cron, every=self.every, at=self.at)


class PluginHooks(msgspec.Struct, kw_only=True, rename="camel"):
    """Which events a plugin handles (WASM: from the manifest; Python: from its decorators)."""

    on_message: bool = False
    commands: list[str] = msgspec.field(default_factory=list)
    cron: list[CronHook] = msgspec.field(default_factory=list)
    on_start: bool = False
    on_stop: bool = False


class PluginLimits(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """What a plugin asks for; the gateway's `plugins` config caps each (None: the config's value)."""

    memory_mb: int | None = None
    fuel: int | None = None
    timeout_seconds: float | None = None


class PluginManifest(msgspec.Struct, kw_only=True, rename="camel"):
    """`manifest.json`: who the plugin is, how it runs, and what it may do."""

    name: str
    version: str
    runtime: Runtime
    entry: str
    description: str = ""
    permissions: list[Permission] = msgspec.field(default_factory=list)
    config_schema: dict[str, Any] | None = None
    hooks: PluginHooks = msgspec.field(default_factory=PluginHooks)
    limits: PluginLimits = msgspec.field(default_factory=PluginLimits)


def check_manifest(manifest: PluginManifest) -> list[str]:
    """Problems beyond the types (names, entry, commands); empty when the manifest is good."""
    problems = []
    if not _NAME.match(manifest.name):
        problems.append(f"name {manifest.name!r} should be lower-case letters, digits, '-' or '_'")
    if not manifest.entry or manifest.entry.startswith("/") or ".." in manifest.entry.split("/"):
        problems.append(f"entry {manifest.entry!r} should be a file inside the plugin folder")
    for name in manifest.hooks.commands:
        if not _COMMAND.match(name):
            problems.append(f"command {name!r} should be lower-case letters, digits or '_'")
    seen: set[str] = set()
    for hook in manifest.hooks.cron:
        if hook.id in seen:
            problems.append(f"cron id {hook.id!r} appears twice")
        seen.add(hook.id)
    return problems


def decode_manifest(raw: bytes, source: str) -> PluginManifest:
    """Parses and checks a manifest; raises PluginError naming `source` and the problem."""
    try:
        manifest = msgspec.json.decode(raw, type=PluginManifest)
    except msgspec.ValidationError as exc:
        raise PluginError(f"{source}: {exc}") from exc
    except msgspec.DecodeError as exc:
        raise PluginError(f"{source}: not valid JSON ({exc})") from exc
    problems = check_manifest(manifest)
    if problems:
        raise PluginError(f"{source}: " + "; ".join(problems))
    return manifest


def check_permission(manifest: PluginManifest, api: str) -> None:
    """Raises PluginPermissionError (or PluginError for an unknown API) before anything runs."""
    if api not in API_PERMISSIONS:
        raise PluginError(f"unknown host API {api!r}; known: {', '.join(sorted(API_PERMISSIONS))}")
    needed = API_PERMISSIONS[api]
    if needed is not None and needed not in manifest.permissions:
        raise PluginPermissionError(
            f"permission denied: {api} needs the '{needed}' permission, which plugin "
            f"{manifest.name!r} does not declare in manifest.json"
        )


# --- config schema: the small part of JSON Schema that plugin settings need --------------------

_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
    "null": (type(None),),
}


def _check_type(value: Any, kind: str) -> bool:
    if kind not in _TYPES:
        return True
    if isinstance(value, bool) and kind in ("integer", "number"):
        return False
    return isinstance(value, _TYPES[kind])


def _validate(schema: Mapping[str, Any], value: Any, path: str, problems: list[str]) -> Any:
    kind = schema.get("type")
    kinds = [kind] if isinstance(kind, str) else list(kind or [])
    where = path or "(root)"
    if kinds and not any(_check_type(value, k) for k in kinds):
        problems.append(f"{where}: expected {' or '.join(kinds)}, got {type(value).__name__}")
        return value
    if "enum" in schema and value not in schema["enum"]:
        problems.append(f"{where}: {value!r} is not one of {schema['enum']}")
    if isinstance(value, str):
        if "minLength" in schema and len(value) < schema["minLength"]:
            problems.append(f"{where}: shorter than {schema['minLength']}")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            problems.append(f"{where}: longer than {schema['maxLength']}")
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            problems.append(f"{where}: {value} is below {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            problems.append(f"{where}: {value} is above {schema['maximum']}")
    if isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        value = [_validate(schema["items"], v, f"{path}[{i}]", problems) for i, v in enumerate(value)]
    if isinstance(value, dict):
        props: Mapping[str, Any] = schema.get("properties") or {}
        out = dict(value)
        for key, sub in props.items():
            if key not in out and isinstance(sub, Mapping) and "default" in sub:
                out[key] = sub["default"]
        for key in schema.get("required") or []:
            if key not in out:
                problems.append(f"{path + '.' if path else ''}{key}: required")
        for key, item in list(out.items()):
            sub_path = f"{path}.{key}" if path else key
            if key in props:
                out[key] = _validate(props[key], item, sub_path, problems)
            elif schema.get("additionalProperties") is False:
                problems.append(f"{sub_path}: unknown key (known: {', '.join(props) or 'none'})")
        return out
    return value


def validate_plugin_config(manifest: PluginManifest, config: Mapping[str, Any] | None) -> dict[str, Any]:
    """The plugin's config with schema defaults filled in; raises PluginConfigError listing problems.

    Understands `type`, `properties`, `required`, `default`, `enum`, `additionalProperties: false`,
    `items`, `minimum`/`maximum`, `minLength`/`maxLength`; other keywords are ignored.
    """
    value: dict[str, Any] = dict(config or {})
    schema = manifest.config_schema
    if not schema:
        return value
    problems: list[str] = []
    checked = _validate({"type": "object", **schema}, value, "", problems)
    if problems:
        raise PluginConfigError(
            f"plugins.config.{manifest.name}: " + "; ".join(problems)
        )
    result: dict[str, Any] = checked
    return result


# --- events and results ------------------------------------------------------------------------


class PluginMessage(msgspec.Struct, frozen=True, kw_only=True):
    """What a plugin sees of an inbound message (no attachment bytes)."""

    channel: str
    peer_id: str
    sender_id: str
    text: str
    session_key: str
    account: str = "default"
    chat_kind: ChatKind = "direct"
    sender_name: str = ""
    thread_id: str | None = None
    message_id: str | None = None

    @classmethod
    def of(cls, message: InboundMessage, session_key: str) -> PluginMessage:
        return cls(
            channel=message.channel, peer_id=message.peer_id, sender_id=message.sender_id,
            text=message.text, session_key=session_key, account=message.account,
            chat_kind=message.chat_kind, sender_name=message.sender_name,
            thread_id=message.thread_id, message_id=message.message_id,
        )


class MessageEvent(msgspec.Struct, frozen=True, kw_only=True, tag_field="event", tag="message"):
    message: PluginMessage
    config: dict[str, Any] = msgspec.field(default_factory=dict)


class CommandEvent(msgspec.Struct, frozen=True, kw_only=True, tag_field="event", tag="command"):
    command: str
    args: str
    message: PluginMessage
    config: dict[str, Any] = msgspec.field(default_factory=dict)


class CronEvent(msgspec.Struct, frozen=True, kw_only=True, tag_field="event", tag="cron"):
    job: str
    now: float
    config: dict[str, Any] = msgspec.field(default_factory=dict)


class StartEvent(msgspec.Struct, frozen=True, kw_only=True, tag_field="event", tag="start"):
    config: dict[str, Any] = msgspec.field(default_factory=dict)


class StopEvent(msgspec.Struct, frozen=True, kw_only=True, tag_field="event", tag="stop"):
    config: dict[str, Any] = msgspec.field(default_factory=dict)


PluginEvent = MessageEvent | CommandEvent | CronEvent | StartEvent | StopEvent

Action = Literal["pass", "rewrite", "reply"]


class HandlerResult(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A handler's answer: pass, rewrite the text, or reply (commands reply with `text`)."""

    action: Action = "pass"
    text: str | None = None
    error: str | None = None


PASS = HandlerResult()


# --- dispatch ----------------------------------------------------------------------------------

RESERVED_COMMANDS = frozenset(commands.KNOWN | {"elevated", "compact"})


def parse_plugin_command(text: str) -> tuple[str, str] | None:
    """`/name args` (`/name@bot` too) -> (name, args); None when the text is not a slash command."""
    stripped = text.strip()
    if not stripped.startswith("/") or len(stripped) < 2:
        return None
    head, _, args = stripped.partition(" ")
    name = head[1:].split("@", 1)[0].lower()
    if not _COMMAND.match(name):
        return None
    return name, args.strip()


class PluginDispatcher:
    """Runs plugin handlers before a turn: `before_turn(message, key) -> InboundMessage | Reply | None`.

    None: go on with the message unchanged. An InboundMessage: go on with this (rewritten) one.
    A Reply: answer with it; the agent is not asked and nothing is stored in the session.
    """

    def __init__(
        self,
        plugins: Sequence[PluginInstance],
        *,
        reset_triggers: tuple[str, ...] = ("/new", "/reset"),
        max_chars: int = 32_000,
    ) -> None:
        self._reset_triggers = reset_triggers
        self._max_chars = max_chars
        self._on_message = [p for p in plugins if p.hooks.on_message]
        self._commands: dict[str, PluginInstance] = {}
        for plugin in plugins:
            for name in plugin.hooks.commands:
                if name in RESERVED_COMMANDS or f"/{name}" in reset_triggers:
                    log.warning("plugin %s: /%s is a built-in command; ignored", plugin.name, name)
                elif name in self._commands:
                    log.warning("plugin %s: /%s is taken by plugin %s; ignored",
                                plugin.name, name, self._commands[name].name)
                else:
                    self._commands[name] = plugin

    @property
    def commands(self) -> dict[str, str]:
        """Command name -> the plugin that answers it."""
        return {name: plugin.name for name, plugin in self._commands.items()}

    def active(self) -> bool:
        return bool(self._on_message or self._commands)

    async def before_turn(self, message: InboundMessage, session_key: str) -> InboundMessage | Reply | None:
        if not self._on_message and not self._commands:
            return None
        builtin = commands.parse_command(message.text, self._reset_triggers)
        if builtin is not None and builtin.name != "unknown":
            return None  # built-in commands are the gateway's own; unknown ones may be a plugin's
        parsed = parse_plugin_command(message.text) if self._commands else None
        if parsed is not None and parsed[0] in self._commands:
            return await self._command(self._commands[parsed[0]], parsed[0], parsed[1], message, session_key)
        current = message
        for plugin in self._on_message:
            event = MessageEvent(message=PluginMessage.of(current, session_key))
            result = await self._call(plugin, event)
            if result.action == "reply" and result.text is not None:
                return Reply(text=result.text, session_key=session_key, session_id="",
                             model=f"plugin/{plugin.name}")
            if result.action == "rewrite" and result.text is not None:
                if not result.text.strip() or len(result.text) > self._max_chars:
                    log.warning("plugin %s: rewrite refused (empty or over %d characters)",
                                plugin.name, self._max_chars)
                    continue
                current = msgspec.structs.replace(current, text=result.text)
        return current if current is not message else None

    async def _command(
        self, plugin: PluginInstance, name: str, args: str, message: InboundMessage, key: str
    ) -> Reply:
        event = CommandEvent(command=name, args=args, message=PluginMessage.of(message, key))
        result = await self._call(plugin, event)
        if result.error is not None:
            text = f"The /{name} command failed."
            return Reply(text=text, session_key=key, session_id="", command=name,
                         finish_reason="error", error=text)
        return Reply(text=result.text or "", session_key=key, session_id="", command=name)

    @staticmethod
    async def _call(plugin: PluginInstance, event: PluginEvent) -> HandlerResult:
        try:
            return await plugin.handle(event)
        except Exception as exc:  # a plugin never breaks the turn
            log.warning("plugin %s failed on %s: %s", plugin.name, type(event).__name__, exc)
            return HandlerResult(error=str(exc) or type(exc).__name__)
