"""Installing a skill from a folder or an archive (.zip, .tar, .tar.gz, .tgz) without trusting it.

Nothing from the skill is executed, and nothing is written outside a staging folder until every
check passed: archive members with absolute paths, `..`, symlinks, hard links or device files are
refused (the whole archive, not just the member), executables are refused unless the policy allows
them, sizes and file counts are capped (counted while copying, not taken from headers), and the
skill must parse. What the skill asks for (binaries, environment variables, OS, allowed tools) is
reported, and a skill asking for what `skills.install` denies is not installed.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import tarfile
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path, PurePosixPath
from typing import IO

import yaml

from rustyclaw.adapters.skills.skill_file import SKILL_FILE, SkillFormatError, read_skill, split_frontmatter
from rustyclaw.domain.errors import RustyClawError
from rustyclaw.domain.skills import Skill

_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
_CHUNK = 64 * 1024


class SkillInstallError(RustyClawError):
    """The skill was not installed; the message says why."""


@dataclass(frozen=True, slots=True)
class InstallPolicy:
    deny_bins: tuple[str, ...] = ("sudo", "su", "doas")
    deny_env: tuple[str, ...] = ()
    allow_executables: bool = False
    max_bytes: int = 5_000_000
    max_files: int = 500


@dataclass
class InstallReport:
    skill: Skill | None = None
    asks: list[str] = field(default_factory=list)
    allowed_tools: str | None = None
    files: int = 0
    size: int = 0
    refusals: list[str] = field(default_factory=list)
    destination: Path | None = None
    installed: bool = False


@dataclass(frozen=True, slots=True)
class _Member:
    path: PurePosixPath
    size: int
    executable: bool
    is_dir: bool


def _safe_member_path(name: str, where: str) -> PurePosixPath:
    text = name.replace("\\", "/")
    path = PurePosixPath(text)
    if text.startswith("/") or re.match(r"^[A-Za-z]:", text):
        raise SkillInstallError(f"{where}: refused: member {name!r} has an absolute path")
    if ".." in path.parts:
        raise SkillInstallError(f"{where}: refused: member {name!r} climbs out with '..'")
    if "\x00" in text:
        raise SkillInstallError(f"{where}: refused: member {name!r} has a NUL byte")
    return PurePosixPath(*[p for p in path.parts if p not in ("", ".")])


def _tar_members(archive: tarfile.TarFile, where: str) -> list[tuple[_Member, tarfile.TarInfo]]:
    out = []
    for info in archive.getmembers():
        path = _safe_member_path(info.name, where)
        if info.issym() or info.islnk():
            raise SkillInstallError(f"{where}: refused: member {info.name!r} is a link (to {info.linkname!r})")
        if not (info.isfile() or info.isdir()):
            raise SkillInstallError(f"{where}: refused: member {info.name!r} is a device, FIFO or other special file")
        out.append((_Member(path, info.size, bool(info.mode & 0o111) and info.isfile(), info.isdir()), info))
    return out


def _zip_members(archive: zipfile.ZipFile, where: str) -> list[tuple[_Member, zipfile.ZipInfo]]:
    out = []
    for info in archive.infolist():
        path = _safe_member_path(info.filename, where)
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise SkillInstallError(f"{where}: refused: member {info.filename!r} is a symlink")
        if stat.S_IFMT(mode) and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            raise SkillInstallError(f"{where}: refused: member {info.filename!r} is a special file")
        out.append((_Member(path, info.file_size, bool(mode & 0o111) and not info.is_dir(), info.is_dir()), info))
    return out


def _folder_members(folder: Path) -> Iterator[tuple[_Member, Path]]:
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        base = Path(dirpath)
        for name in sorted(dirnames + filenames):
            full = base / name
            rel = PurePosixPath(full.relative_to(folder).as_posix())
            info = full.lstat()
            if stat.S_ISLNK(info.st_mode):
                raise SkillInstallError(f"{folder}: refused: {rel} is a symlink (to {os.readlink(full)!r})")
            if not (stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode)):
                raise SkillInstallError(f"{folder}: refused: {rel} is a device, FIFO or other special file")
            is_dir = stat.S_ISDIR(info.st_mode)
            yield _Member(rel, 0 if is_dir else info.st_size, bool(info.st_mode & 0o111) and not is_dir, is_dir), full


def _check(members: list[_Member], policy: InstallPolicy, where: str) -> None:
    files = [m for m in members if not m.is_dir]
    if len(files) > policy.max_files:
        raise SkillInstallError(f"{where}: refused: {len(files)} files; the limit is {policy.max_files}")
    total = sum(m.size for m in files)
    if total > policy.max_bytes:
        raise SkillInstallError(f"{where}: refused: {total} bytes unpacked; the limit is {policy.max_bytes}")
    runnable = [str(m.path) for m in files if m.executable]
    if runnable and not policy.allow_executables:
        raise SkillInstallError(
            f"{where}: refused: executable files ({', '.join(runnable[:5])}); a skill ships instructions, "
            "set skills.install.allowExecutables to accept them"
        )


def _copy(source: IO[bytes], target: Path, budget: list[int], where: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "wb") as out:
        while chunk := source.read(_CHUNK):
            budget[0] -= len(chunk)
            if budget[0] < 0:  # headers can lie about sizes; the bytes written cannot
                raise SkillInstallError(f"{where}: refused: unpacks to more than its stated size limit")
            out.write(chunk)


def _unpack(source: Path, staging: Path, policy: InstallPolicy) -> int:
    """Fills `staging` with the skill's files; returns how many."""
    where = str(source)
    budget = [policy.max_bytes]
    if source.is_dir():
        pairs = list(_folder_members(source))
        _check([m for m, _ in pairs], policy, where)
        for member, full in pairs:
            target = staging / member.path
            if member.is_dir:
                target.mkdir(parents=True, exist_ok=True)
            else:
                with open(full, "rb") as source_file:
                    _copy(source_file, target, budget, where)
        return sum(1 for m, _ in pairs if not m.is_dir)
    if zipfile.is_zipfile(source):
        with zipfile.ZipFile(source) as archive:
            zpairs = _zip_members(archive, where)
            _check([m for m, _ in zpairs], policy, where)
            for member, zinfo in zpairs:
                if member.is_dir or not member.path.parts:
                    continue
                with archive.open(zinfo) as member_file:
                    _copy(member_file, staging / member.path, budget, where)
            return sum(1 for m, _ in zpairs if not m.is_dir)
    if tarfile.is_tarfile(source):
        with tarfile.open(source) as tar:
            tpairs = _tar_members(tar, where)
            _check([m for m, _ in tpairs], policy, where)
            for member, tinfo in tpairs:
                if member.is_dir or not member.path.parts:
                    continue
                handle = tar.extractfile(tinfo)
                if handle is None:
                    raise SkillInstallError(f"{where}: refused: member {tinfo.name!r} cannot be read")
                with handle:
                    _copy(handle, staging / member.path, budget, where)
            return sum(1 for m, _ in tpairs if not m.is_dir)
    raise SkillInstallError(f"{source}: not a folder, zip or tar archive")


def _skill_root(staging: Path, where: str) -> Path:
    """SKILL.md at the top, or inside the archive's one top-level folder."""
    if (staging / SKILL_FILE).is_file():
        return staging
    entries = [p for p in staging.iterdir()]
    if len(entries) == 1 and entries[0].is_dir() and (entries[0] / SKILL_FILE).is_file():
        return entries[0]
    raise SkillInstallError(f"{where}: no {SKILL_FILE} at its top (or in its single top-level folder)")


def _refusals(skill: Skill, policy: InstallPolicy) -> list[str]:
    req = skill.requires
    out = [f"it asks for the binary {b}, which skills.install.denyBins forbids"
           for b in (*req.bins, *req.any_bins) if any(fnmatchcase(b, p) for p in policy.deny_bins)]
    out += [f"it asks for the environment variable {e}, which skills.install.denyEnv forbids"
            for e in req.env if any(fnmatchcase(e, p) for p in policy.deny_env)]
    return out


def install_skill(
    source: Path, destination_root: Path, policy: InstallPolicy, *, force: bool = False, dry_run: bool = False,
) -> InstallReport:
    """Checks `source` and (unless refused or `dry_run`) installs it as `<destination_root>/<name>`.

    A refusal found after the archive checks (policy, an existing skill) is returned in the report;
    an unsafe or unreadable source raises SkillInstallError.
    """
    source = source.expanduser()
    if not source.exists():
        raise SkillInstallError(f"{source}: does not exist")
    if source.is_symlink():
        raise SkillInstallError(f"{source}: refused: the source itself is a symlink")
    destination_root.mkdir(parents=True, exist_ok=True)
    report = InstallReport()
    with tempfile.TemporaryDirectory(prefix=".install-", dir=destination_root) as tmp:
        staging = Path(tmp) / "skill"
        staging.mkdir()
        report.files = _unpack(source, staging, policy)
        root = _skill_root(staging, str(source))
        try:
            skill = read_skill(root / SKILL_FILE, "managed")
            front, _ = split_frontmatter((root / SKILL_FILE).read_text(encoding="utf-8"), str(source))
        except (SkillFormatError, yaml.YAMLError) as exc:
            raise SkillInstallError(str(exc).replace(str(root), str(source))) from exc
        report.skill = skill
        report.asks = skill.requires.asks_for()
        tools = front.get("allowed-tools")
        report.allowed_tools = str(tools) if tools else None
        report.size = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
        if not _NAME.match(skill.name):
            report.refusals.append(f"its name {skill.name!r} should be lower-case letters, digits and '-'")
        report.refusals += _refusals(skill, policy)
        target = destination_root / skill.name
        report.destination = target
        if target.exists() and not force:
            report.refusals.append(f"{target} already exists (use --force to replace it)")
        if report.refusals or dry_run:
            return report
        if target.exists():
            shutil.rmtree(target)
        os.replace(root, target)
        report.installed = True
    return report
