"""`rustyclaw migrate openclaw [PATH]`: an OpenClaw installation -> a RustyClaw home, in one command.

Steps (each idempotent, so a second run changes nothing and reports "unchanged"):
1. config: openclaw.json (JSON5, $include, ${VAR}) -> `<home>/config.yaml`, secrets -> `<home>/secrets.env`
   (mode 0600, never inline). The YAML is checked by RustyClaw's own loader before anything is
   written. An existing config.yaml not written by this command is left alone (StorageError,
   unless `force`).
2. workspace files of every agent -> `<home>/workspace` (other agents: `<home>/workspace/<agentId>`,
   RustyClaw's layout); an existing file with other content is kept and reported.
3. pairing allowlists -> RustyClaw's pairing store (`<stateDir>/credentials`, OpenClaw's format; on
   `storage.backend: postgres` the database's `pairing_approved`, where every replica reads them).
4. sessions, transcripts and archives (either layout) -> the configured store, through
   transfer.import_openclaw, which verifies every message id at the end.
Cron jobs, skills and MCP servers travel inside the config (step 1). The report lists every key
and item that has no RustyClaw equivalent, with the reason.

Paths in openclaw.json under `~/.openclaw/` (OpenClaw's default home) are read from the folder
being migrated, so a copied or mounted installation migrates like the original.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from rustyclaw.adapters.openclaw.config_file import OpenClawConfigFile, load_openclaw_config
from rustyclaw.adapters.openclaw.config_map import WORKSPACE_DIR, MappedConfig, Unmapped, map_config
from rustyclaw.adapters.openclaw.state_extras import StateExtras, cron_map, read_extras
from rustyclaw.adapters.storage.openclaw_source import Layout, detect_layout
from rustyclaw.config.loader import LoadedConfig, load_config
from rustyclaw.domain.errors import ConfigError, StorageError

if TYPE_CHECKING:
    from rustyclaw.config.schema import StorageConfig
    from rustyclaw.ports.pairing import PairingStore

MARKER = "# Written by `rustyclaw migrate openclaw`"
CONFIG_NAME = "openclaw.json"
# Channels whose pairing allowlists RustyClaw's access rules read.
PAIRING_CHANNELS = ("telegram", "discord", "whatsapp")
_SKIP_DIRS = {".git", "node_modules", ".openclaw"}

Say = Callable[[str], None]


@dataclass(slots=True)
class WorkspaceCopy:
    agent_id: str
    source: Path
    target: Path
    files: list[str] = field(default_factory=list)  # relative paths


@dataclass(slots=True)
class MigrationPlan:
    source: Path
    home: Path
    layout: Layout | None
    config_source: Path | None
    mapped: MappedConfig
    config_text: str
    secrets: dict[str, str]
    cron_jobs: list[dict[str, Any]]
    workspaces: list[WorkspaceCopy]
    allow_from: dict[str, list[str]]
    unmapped: list[Unmapped]

    @property
    def config_path(self) -> Path:
        return self.home / "config.yaml"

    @property
    def secrets_path(self) -> Path:
        return self.home / "secrets.env"


@dataclass(slots=True)
class MigrationResult:
    config: str = ""  # written | updated | unchanged
    secrets_written: int = 0
    workspace_copied: int = 0
    workspace_unchanged: int = 0
    workspace_conflicts: list[str] = field(default_factory=list)
    pairing_added: int = 0
    pairing_total: int = 0
    sessions_summary: str = ""
    sessions: int = 0
    messages: int = 0
    archives: int = 0
    archived_messages: int = 0
    notes: list[str] = field(default_factory=list)


def _local_path(text: str, source: Path) -> Path:
    """A path from openclaw.json, with `~/.openclaw/` read from the folder being migrated."""
    if text == "~/.openclaw" or text.startswith("~/.openclaw/"):
        return source / text[len("~/.openclaw/") :] if text != "~/.openclaw" else source
    path = Path(text).expanduser()
    return path if path.is_absolute() else source / path


def _workspace_files(folder: Path) -> list[str]:
    found: list[str] = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS and not d.startswith("."))
        for name in sorted(files):
            if name.startswith("."):
                continue
            found.append(str((Path(root) / name).relative_to(folder)))
    return found


def _config_sections() -> frozenset[str]:
    from rustyclaw.config.schema import RustyClawConfig

    return frozenset(RustyClawConfig.model_fields)


def plan_migration(source: Path, home: Path, environ: Mapping[str, str]) -> MigrationPlan:
    """Everything the migration would do, read from `source` without writing anywhere."""
    source = source.expanduser()
    if not source.is_dir():
        raise StorageError(f"{source} is not a folder (expected an OpenClaw home such as ~/.openclaw)")
    config_source = source / CONFIG_NAME if (source / CONFIG_NAME).is_file() else None
    try:
        layout: Layout | None = detect_layout(source)
    except StorageError:
        layout = None
    if config_source is None and layout is None:
        raise StorageError(f"{source} holds neither {CONFIG_NAME} nor OpenClaw session state: nothing to migrate")
    loaded = (
        load_openclaw_config(config_source, environ, source)
        if config_source is not None
        else OpenClawConfigFile({}, source / CONFIG_NAME)
    )
    mapped = map_config(loaded, _config_sections())
    unmapped = list(mapped.unmapped)
    for name in loaded.unresolved:
        unmapped.append(Unmapped(f"${{{name}}}", "not set where OpenClaw looks (environment, .env, env.vars): "
                                 f"put {name}=... in secrets.env"))  # fmt: skip
    extras = read_extras(source) if layout is not None or (source / "credentials").is_dir() else StateExtras()
    channels = mapped.data.get("channels", {})
    enabled = frozenset(name for name, section in channels.items()
                        if isinstance(section, dict) and section.get("enabled"))
    jobs, skipped_jobs = cron_map(extras.cron_jobs, enabled)
    unmapped.extend(skipped_jobs)
    if jobs:
        mapped.data.setdefault("cron", {})["jobs"] = jobs
    allow_from: dict[str, list[str]] = {}
    for channel, entries in extras.allow_from.items():
        if channel in PAIRING_CHANNELS:
            allow_from[channel] = entries
        else:
            unmapped.append(
                Unmapped(f"pairing allowlist of {channel!r}", f"{len(entries)} entries: channel not supported")
            )
    workspaces: list[WorkspaceCopy] = []
    for agent_id, text in mapped.workspaces.items():
        folder = _local_path(text, source)
        target = home / WORKSPACE_DIR if agent_id == mapped.default_agent else home / WORKSPACE_DIR / agent_id
        if not folder.is_dir():
            unmapped.append(Unmapped(f"workspace of agent {agent_id!r}", f"{folder} does not exist: nothing copied"))
            continue
        workspaces.append(WorkspaceCopy(agent_id, folder, target, _workspace_files(folder)))
    # Variables OpenClaw could not resolve either: the config keeps `${VAR:-}` so it loads, and the
    # report says to set them.
    data = _default_missing(mapped.data, set(mapped.needs_variables))
    text = _render(data, source)
    _check(data, mapped.secrets, home, environ)
    return MigrationPlan(
        source, home, layout, config_source, mapped, text, dict(mapped.secrets), jobs, workspaces, allow_from, unmapped
    )


def _default_missing(value: Any, names: set[str]) -> Any:
    if isinstance(value, dict):
        return {k: _default_missing(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [_default_missing(v, names) for v in value]
    if isinstance(value, str) and value.startswith("${") and value[2:-1] in names:
        return "${" + value[2:-1] + ":-}"
    return value


def _render(data: dict[str, Any], source: Path) -> str:
    from rustyclaw.config.yaml_io import dump_yaml

    header = (
        f"{MARKER} from {source}.\n"
        "# Secrets are in secrets.env next to this file. Re-running the command rewrites this file;\n"
        "# edit it freely once you no longer migrate (then remove this header).\n"
    )
    return header + dump_yaml(data)


def _check(data: dict[str, Any], secrets: Mapping[str, str], home: Path, environ: Mapping[str, str]) -> None:
    """Validate the generated config the way `config validate` will (secrets substituted)."""
    from rustyclaw.config.loader import validate
    from rustyclaw.config.substitute import substitute

    resolved = substitute(data, {**environ, **secrets}, "<migrated config>")
    try:
        validate(resolved, "<migrated config>", home)
    except ConfigError as exc:
        raise ConfigError(f"the migrated configuration does not validate (a bug in the mapping): {exc}") from exc


def describe(plan: MigrationPlan, dry_run: bool) -> str:
    """The plan as text: what will be (or was) done, then every item with no equivalent."""
    lines = [f"{'Plan' if dry_run else 'Migration'}: {plan.source} -> {plan.home}"]
    lines.append(f"  config: {plan.config_source or 'no openclaw.json'} -> {plan.config_path}")
    if plan.secrets:
        lines.append(f"  secrets: {len(plan.secrets)} -> {plan.secrets_path} ({', '.join(sorted(plan.secrets))})")
    lines.append(f"  state: {plan.layout or 'none found'} layout")
    for copy in plan.workspaces:
        lines.append(f"  workspace of {copy.agent_id}: {len(copy.files)} files {copy.source} -> {copy.target}")
    for channel, entries in sorted(plan.allow_from.items()):
        lines.append(f"  pairing allowlist {channel}: {len(entries)} senders")
    if plan.cron_jobs:
        lines.append(f"  cron jobs: {', '.join(j['id'] for j in plan.cron_jobs)}")
    if plan.unmapped:
        lines.append(f"Not carried over ({len(plan.unmapped)}):")
        lines.extend(f"  - {u.path}: {u.reason}" for u in plan.unmapped)
    else:
        lines.append("Everything has a RustyClaw equivalent.")
    return "\n".join(lines)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _write_config(plan: MigrationPlan, force: bool) -> str:
    path = plan.config_path
    if path.is_file():
        old = path.read_text(encoding="utf-8")
        if old == plan.config_text:
            return "unchanged"
        if not old.startswith(MARKER) and not force:
            raise StorageError(
                f"{path} exists and was not written by this command: move it away or pass --force to replace it"
            )
        state = "updated"
    else:
        state = "written"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(plan.config_text, encoding="utf-8")
    os.replace(tmp, path)
    return state


def _quote(value: str) -> str:
    if "\n" in value or ("'" in value and '"' in value):
        raise StorageError("a secret contains a newline or both quote kinds: secrets.env cannot hold it")
    return f"'{value}'" if '"' in value else f'"{value}"'


def _write_secrets(plan: MigrationPlan) -> int:
    from rustyclaw.config.substitute import read_env_file

    path = plan.secrets_path
    existing = read_env_file(path) if path.is_file() else {}
    changed = {k: v for k, v in plan.secrets.items() if existing.get(k) != v}
    if not changed:
        return 0
    merged = {**existing, **plan.secrets}
    body = "# RustyClaw secrets (KEY=VALUE); keep this file private.\n" + "".join(
        f"{k}={_quote(v)}\n" for k, v in merged.items()
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(body)
    os.replace(tmp, path)
    return len(changed)


def _copy_workspaces(plan: MigrationPlan, result: MigrationResult) -> None:
    for copy in plan.workspaces:
        for rel in copy.files:
            src, dst = copy.source / rel, copy.target / rel
            if dst.is_file():
                if _digest(dst) == _digest(src):
                    result.workspace_unchanged += 1
                else:
                    result.workspace_conflicts.append(str(dst))
                continue
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
            if _digest(dst) != _digest(src):
                raise StorageError(f"copying {src} to {dst}: the copy differs from the original")
            result.workspace_copied += 1


async def _pairing(plan: MigrationPlan, state_dir: Path, result: MigrationResult, storage: StorageConfig) -> None:
    from rustyclaw.adapters.clock import SystemClock
    from rustyclaw.adapters.storage.factory import open_shared_state

    # Where the gateway will read them: the state folder, or PostgreSQL on that backend.
    shared = open_shared_state(storage, state_dir, SystemClock())
    await shared.start()
    try:
        await _add_allowlists(plan, shared.pairing, result)
    finally:
        await shared.aclose()


async def _add_allowlists(plan: MigrationPlan, store: PairingStore, result: MigrationResult) -> None:
    for channel, entries in plan.allow_from.items():
        have = await store.approved(channel)
        for sender in entries:
            if sender not in have:
                await store.add_approved(channel, sender)
                result.pairing_added += 1
        missing = set(entries) - set(await store.approved(channel))
        if missing:
            raise StorageError(f"pairing allowlist of {channel}: {len(missing)} senders did not arrive")
        result.pairing_total += len(entries)


async def run_migration(
    plan: MigrationPlan,
    environ: Mapping[str, str],
    say: Say,
    progress: Callable[[int, int], None] | None = None,
    force: bool = False,
) -> MigrationResult:
    """Carry out `plan`; every step checks what it wrote. Re-running is safe."""
    from rustyclaw.adapters.storage.factory import open_store
    from rustyclaw.adapters.storage.transfer import import_openclaw

    result = MigrationResult()
    total = 4

    def files() -> tuple[LoadedConfig, Path]:
        # Blocking file work, run in a worker thread.
        say(f"[1/{total}] config -> {plan.config_path}")
        result.config = _write_config(plan, force)
        result.secrets_written = _write_secrets(plan)
        # The file just written must load as `serve` will load it (secrets.env included).
        loaded = load_config(plan.config_path, env={**environ, "RUSTYCLAW_HOME": str(plan.home)})
        say(f"[2/{total}] workspace files ({sum(len(c.files) for c in plan.workspaces)})")
        _copy_workspaces(plan, result)
        return loaded, Path(loaded.config.gateway.state_dir).expanduser()

    loaded, state_dir = await anyio.to_thread.run_sync(files)
    say(f"[3/{total}] pairing allowlists ({sum(len(v) for v in plan.allow_from.values())} senders)")
    await _pairing(plan, state_dir, result, loaded.config.storage)
    if plan.layout is None:
        say(f"[4/{total}] sessions: no OpenClaw session state in {plan.source}")
        return result
    say(f"[4/{total}] sessions ({plan.layout} layout) -> {loaded.config.storage.backend}")
    store = open_store(loaded.config.storage, state_dir)
    await store.start()
    try:
        report = await import_openclaw(plan.source, store, progress)
    finally:
        await store.aclose()
    result.sessions_summary = report.summary()
    result.sessions, result.messages = report.sessions, report.messages
    result.archives, result.archived_messages = report.archives, report.archived_messages
    result.notes.extend(report.notes)
    return result
