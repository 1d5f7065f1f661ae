"""Finds plugins on disk: one folder per plugin, each with a `manifest.json`, in the configured dirs.

Folders are scanned in the order of `plugins.dirs`, and within a dir by folder name; that order is
the order in which `on_message` handlers run. A name found twice keeps its first folder. A plugin
is enabled unless `plugins.enabled.<name>` is false. Its config (`plugins.config.<name>`) is checked
against the manifest's `configSchema` and gets the schema's defaults.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rustyclaw.domain.plugins import (
    PluginError,
    PluginManifest,
    decode_manifest,
    validate_plugin_config,
)
from rustyclaw.ports.plugins import PluginLimitsResolved, PluginSource

MANIFEST = "manifest.json"
MB = 1024 * 1024


@dataclass
class FoundPlugin:
    """A plugin folder and what became of it: a manifest, or the error that stopped it."""

    folder: Path
    manifest: PluginManifest | None = None
    error: str | None = None
    enabled: bool = True
    shadowed_by: Path | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.manifest.name if self.manifest is not None else self.folder.name


@dataclass(frozen=True)
class PluginCaps:
    """The gateway's limits for every plugin (the `plugins` config's caps)."""

    memory_mb: int = 32
    fuel: int = 100_000_000
    timeout_seconds: float = 10.0

    def resolve(self, manifest: PluginManifest) -> PluginLimitsResolved:
        asked = manifest.limits
        memory_mb = min(asked.memory_mb or self.memory_mb, self.memory_mb)
        fuel = min(asked.fuel or self.fuel, self.fuel)
        timeout = min(asked.timeout_seconds or self.timeout_seconds, self.timeout_seconds)
        return PluginLimitsResolved(memory_bytes=max(1, memory_mb) * MB, fuel=fuel, timeout_seconds=timeout)


def discover(dirs: Sequence[Path], enabled: Mapping[str, bool] | None = None) -> list[FoundPlugin]:
    """Every plugin folder under `dirs` (missing dirs are skipped), with its manifest or error."""
    enabled = enabled or {}
    found: list[FoundPlugin] = []
    first: dict[str, FoundPlugin] = {}
    for directory in dirs:
        root = Path(directory).expanduser()
        if not root.is_dir():
            continue
        for folder in sorted(p for p in root.iterdir() if p.is_dir()):
            manifest_path = folder / MANIFEST
            if not manifest_path.is_file():
                continue
            item = FoundPlugin(folder=folder)
            try:
                item.manifest = decode_manifest(manifest_path.read_bytes(), str(manifest_path))
            except PluginError as exc:
                item.error = str(exc)
            except OSError as exc:
                item.error = f"{manifest_path}: {exc}"
            if item.manifest is not None:
                if not (folder / item.manifest.entry).is_file():
                    item.error = f"{folder}: entry {item.manifest.entry!r} does not exist"
                earlier = first.get(item.manifest.name)
                if earlier is not None:
                    item.shadowed_by = earlier.folder
                    item.error = item.error or f"{item.manifest.name} is already loaded from {earlier.folder}"
                else:
                    first[item.manifest.name] = item
            item.enabled = enabled.get(item.name, True)
            found.append(item)
    return found


def sources(
    found: Sequence[FoundPlugin], configs: Mapping[str, Mapping[str, Any]], caps: PluginCaps
) -> tuple[list[PluginSource], list[str]]:
    """The enabled, loadable plugins as PluginSources, and one problem line per plugin left out."""
    ready: list[PluginSource] = []
    problems: list[str] = []
    for item in found:
        if not item.enabled:
            continue
        if item.manifest is None or item.error is not None:
            problems.append(item.error or f"{item.folder}: no manifest")
            continue
        try:
            config = validate_plugin_config(item.manifest, configs.get(item.manifest.name))
        except PluginError as exc:
            problems.append(str(exc))
            continue
        ready.append(PluginSource(
            manifest=item.manifest, folder=item.folder, config=config, limits=caps.resolve(item.manifest),
        ))
    return ready, problems
