"""Moving history between stores: `storage copy` between backends and the OpenClaw import.

Everything goes through the storage ports (ports/storage.py), so any backend can be the source or the
destination. A copy carries every session (index entry and current transcript) and every
archived transcript (what earlier resets kept, with the key it belonged to). Messages keep their
ids, which makes a copy resumable: a second run skips the sessions, archives and messages the
destination already has, and an interrupted run continues where it stopped. The copy ends by
checking, transcript by transcript, that every source message id is in the destination in
order, and raises StorageError listing what is missing if not.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rustyclaw.config.schema import StorageConfig
from rustyclaw.domain.errors import StorageError
from rustyclaw.domain.messages import SessionEntry
from rustyclaw.ports.archive import ArchivedTranscript
from rustyclaw.ports.storage import StorageBackend

Progress = Callable[[int, int], None]

# Messages per append call: big enough to amortise a round trip or fsync, small enough that an
# interrupted copy loses little work.
CHUNK = 500


@dataclass(slots=True)
class CopyReport:
    """What a copy did. `sessions`/`messages` count the source's sessions and the messages of
    their current transcripts; `archives`/`archived_messages` its archived transcripts."""

    sessions: int = 0
    messages: int = 0
    sessions_copied: int = 0
    sessions_already_there: int = 0
    messages_copied: int = 0
    messages_already_there: int = 0
    skipped_keys: list[str] = field(default_factory=list)
    archives: int = 0
    archived_messages: int = 0
    archives_copied: int = 0
    archives_already_there: int = 0
    archived_messages_copied: int = 0
    archived_messages_already_there: int = 0
    # The OpenClaw import: which layout the folder had, and what it saw but could not carry.
    layout: str = ""
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{self.sessions} sessions, {self.messages} messages: copied {self.messages_copied} messages "
            f"in {self.sessions_copied} sessions; {self.messages_already_there} messages and "
            f"{self.sessions_already_there} sessions were already there. "
            f"{self.archives} archived transcripts, {self.archived_messages} messages: copied "
            f"{self.archived_messages_copied} messages in {self.archives_copied} archives; "
            f"{self.archived_messages_already_there} messages and {self.archives_already_there} archives "
            "were already there"
        )


async def copy_store(
    src: StorageBackend,
    dst: StorageBackend,
    progress: Progress | None = None,
    resume: bool = True,
) -> CopyReport:
    """Copy every session (entry and transcript) and every archived transcript from `src` to
    `dst` (both started).

    `progress(done, total)` is called after each session and each archived transcript (total:
    both together; sessions first). With `resume=False` the destination must not hold any of
    the source's keys or archived transcripts yet (StorageError otherwise), so a fresh copy
    never mixes with an older one. A destination key that points at a different session id
    than the source, or an archived session id that is live in the destination, is a
    conflict, reported as StorageError before anything is written.
    """
    entries = await src.list_sessions()
    archived = await src.list_archived()
    report = CopyReport(sessions=len(entries), archives=len(archived))
    conflicts: list[str] = []
    existing: dict[str, SessionEntry | None] = {}
    for entry in entries:
        there = await dst.get_session(entry.key)
        existing[entry.key] = there
        if there is not None and (not resume or there.session_id != entry.session_id):
            conflicts.append(f"{entry.key} (destination has session {there.session_id}, source {entry.session_id})")
    if archived:
        live = {e.session_id: e.key for e in await dst.list_sessions()}
        old = set() if resume else {a.session_id for a in await dst.list_archived()}
        for record in archived:
            if record.session_id in live:
                conflicts.append(
                    f"archived {record.session_id} of {record.session_key} "
                    f"(live in the destination under {live[record.session_id]})"
                )
            elif record.session_id in old:
                conflicts.append(f"archived {record.session_id} of {record.session_key}")
    if conflicts:
        hint = "" if resume else "; copy into an empty store, or resume"
        raise StorageError(
            f"the destination already holds {len(conflicts)} of these sessions{hint}: " + ", ".join(conflicts[:5])
        )
    total = len(entries) + len(archived)
    if progress is not None:
        progress(0, total)
    for done, entry in enumerate(entries, start=1):
        await _copy_session(src, dst, entry, existing[entry.key], report)
        if progress is not None:
            progress(done, total)
    for done, record in enumerate(archived, start=len(entries) + 1):
        await _copy_archive(src, dst, record, report)
        if progress is not None:
            progress(done, total)
    await verify_copy(src, dst, entries, archived)
    return report


async def _copy_session(
    src: StorageBackend,
    dst: StorageBackend,
    entry: SessionEntry,
    there: SessionEntry | None,
    report: CopyReport,
) -> None:
    messages = await src.load_messages(entry)
    report.messages += len(messages)
    # Looked up even without an entry in dst: an interrupted copy leaves messages before the
    # entry (which goes last).
    have = {m.id for m in await dst.load_messages(entry)}
    missing = [m for m in messages if m.id not in have]
    report.messages_already_there += len(messages) - len(missing)
    for start in range(0, len(missing), CHUNK):
        chunk = missing[start : start + CHUNK]
        stored = await dst.append_messages(entry, chunk)
        report.messages_copied += len(stored)
        if len(stored) != len(chunk):
            lost = {m.id for m in chunk} - {m.id for m in stored}
            raise StorageError(
                f"session {entry.key!r}: the destination refused {len(lost)} messages "
                f"(repeated inbound ids?): {sorted(lost)[:5]}"
            )
    # The entry goes last: its token totals describe the transcript that is now complete.
    await dst.put_session(entry)
    if there is not None and not missing and there == entry:
        report.sessions_already_there += 1
    else:
        report.sessions_copied += 1


async def _copy_archive(
    src: StorageBackend, dst: StorageBackend, record: ArchivedTranscript, report: CopyReport
) -> None:
    messages = await src.load_archived(record)
    report.archived_messages += len(messages)
    have = {m.id for m in await dst.load_archived(record)}
    missing = [m for m in messages if m.id not in have]
    report.archived_messages_already_there += len(messages) - len(missing)
    if not missing:
        report.archives_already_there += 1
        return
    # One call: an archive is written whole (the JSON store rewrites the file), and the import
    # skips what a resumed run finds already there.
    await dst.import_archived(record, missing)
    report.archived_messages_copied += len(missing)
    report.archives_copied += 1


async def verify_copy(
    src: StorageBackend,
    dst: StorageBackend,
    entries: Sequence[SessionEntry] | None = None,
    archived: Sequence[ArchivedTranscript] | None = None,
) -> None:
    """Raise StorageError unless every source session, archived transcript and message id is
    in `dst`, in order (archives recorded with the same key, agent and times)."""
    if entries is None:
        entries = await src.list_sessions()
    if archived is None:
        archived = await src.list_archived()
    problems: list[str] = []
    for entry in entries:
        copied = await dst.get_session(entry.key)
        if copied is None or copied.session_id != entry.session_id:
            problems.append(f"{entry.key}: session entry missing")
            continue
        want = [m.id for m in await src.load_messages(entry)]
        got = [m.id for m in await dst.load_messages(entry)]
        if want != got[: len(want)] or len(got) != len(want):
            have = set(got)
            absent = [i for i in want if i not in have]
            problems.append(
                f"{entry.key}: source has {len(want)} messages, destination {len(got)}"
                + (f" ({len(absent)} missing)" if absent else " (order differs)")
            )
    if archived:
        copies = {(a.session_id, a.archived_at): a for a in await dst.list_archived()}
        for record in archived:
            label = f"archived {record.session_id} of {record.session_key}"
            copy = copies.get((record.session_id, record.archived_at))
            if copy is None:
                problems.append(f"{label}: not in the destination")
                continue
            if copy != record:
                problems.append(f"{label}: recorded in the destination as {copy}")
            want = [m.id for m in await src.load_archived(record)]
            got = [m.id for m in await dst.load_archived(record)]
            if want != got:
                present = set(got)
                absent = [i for i in want if i not in present]
                problems.append(
                    f"{label}: source has {len(want)} messages, destination {len(got)}"
                    + (f" ({len(absent)} missing)" if absent else " (order differs)")
                )
    if problems:
        raise StorageError(f"copy verification failed for {len(problems)} sessions: " + "; ".join(problems[:10]))


async def import_openclaw(state_dir: Path, dst: StorageBackend, progress: Progress | None = None) -> CopyReport:
    """Copy an OpenClaw installation's sessions into `dst`, whichever layout it has
    (openclaw_source.py detects it; a folder with no OpenClaw state is a StorageError).

    SQLite era (2026.7.2+): every session node with its live transcript, the segments before
    each in-place reset as archives of the same key, and the archives of deleted sessions.
    Classic: every `sessions.json` entry with its `<sessionId>.jsonl`, and every archived
    `<sessionId>.jsonl.reset.<time>` transcript (OpenClaw's own archives record no session key;
    they arrive under `agent:<agentId>:archived:<sessionId>`, see json_archives.py).

    The OpenClaw folder is opened read-only: nothing there is written, repaired or locked.
    Resumable like `copy_store`.
    """
    from rustyclaw.adapters.storage.openclaw_source import open_source

    layout, src = open_source(state_dir)
    await src.start()
    try:
        report = await copy_store(src, dst, progress, resume=True)
    finally:
        await src.aclose()
    report.layout = layout
    report.notes.extend(getattr(src, "skipped", ()))
    return report


async def run_copy(
    storage: StorageConfig,
    state_dir: Path,
    from_backend: str,
    to_backend: str,
    progress: Progress | None = None,
    resume: bool = True,
) -> CopyReport:
    """`rustyclaw storage copy --from X --to Y`: both stores built from one `storage` config section."""
    if from_backend == to_backend:
        raise StorageError(f"--from and --to are both {from_backend!r}; pick two different backends")
    from rustyclaw.adapters.storage.factory import open_store

    src = open_store(storage, state_dir, backend=from_backend)
    dst = open_store(storage, state_dir, backend=to_backend)
    await src.start()
    try:
        await dst.start()
        try:
            return await copy_store(src, dst, progress, resume)
        finally:
            await dst.aclose()
    finally:
        await src.aclose()


async def run_import(
    storage: StorageConfig,
    state_dir: Path,
    openclaw_dir: Path,
    to_backend: str | None = None,
    progress: Progress | None = None,
) -> CopyReport:
    """`rustyclaw storage import-openclaw [DIR]`: into the configured (or the given) backend."""
    from rustyclaw.adapters.storage.factory import open_store

    dst = open_store(storage, state_dir, backend=to_backend)
    await dst.start()
    try:
        return await import_openclaw(openclaw_dir, dst, progress)
    finally:
        await dst.aclose()
