"""Session store in OpenClaw's classic file layout, shared safely between processes.

    <root>/agents/<agentId>/sessions/sessions.json     index: session key -> entry
    <root>/agents/<agentId>/sessions/<sessionId>.jsonl transcript (header line, then entries)
    <root>/agents/<agentId>/sessions/<sessionId>.jsonl.reset.<time>  archived transcript
    <root>/agents/<agentId>/sessions/.locks/           our flock files (OpenClaw never looks here)

Shapes: adapters/storage/openclaw_format.py. Damage rules: adapters/storage/jsonl.py.
Archives: adapters/storage/json_archives.py.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import anyio
import msgspec

from rustyclaw.adapters.storage import json_archives as archives
from rustyclaw.adapters.storage import jsonl
from rustyclaw.adapters.storage import openclaw_format as fmt
from rustyclaw.adapters.storage.filelocks import held_file_lock, unlock, wait_flock
from rustyclaw.adapters.storage.locks import KeyedLocks
from rustyclaw.adapters.storage.rules import entry_after_reset
from rustyclaw.domain.errors import CorruptDataError, StorageError, StorageUnavailableError
from rustyclaw.domain.messages import ChatMessage, SessionEntry
from rustyclaw.ports.archive import ArchivedTranscript
from rustyclaw.ports.storage import StorageBackend

T = TypeVar("T")

INDEX_NAME = "sessions.json"
# Append state (last entry id, inbound ids) kept for this many transcripts, the busiest ones.
TRANSCRIPT_STATES_KEPT = 512
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,199}$")
_decoder = msgspec.json.Decoder()
_encoder = msgspec.json.Encoder()


@dataclass(slots=True)
class _Index:
    """A parsed sessions.json and the identity of the file it came from."""

    stamp: tuple[int, int, int]
    values: dict[str, Any]


def agent_of_key(key: str) -> str | None:
    """The agent id a session key names (`agent:<agentId>:...`), or None for keys like `cron:<job>`."""
    if key.startswith("agent:"):
        agent = key.split(":", 2)[1]
        if agent:
            return agent
    return None


archive_name = archives.archive_name


class JsonFileStore:
    """SessionStore over OpenClaw's classic `sessions.json` + `<sessionId>.jsonl` files.

    Agent folder: an entry lives under its `agent_id`; lookups by key try the agent the key
    names first, then every other agent folder (keys such as `cron:<job>` name none).

    Durability (`fsync`): `always` fdatasyncs after each message line; `batch` (default) writes
    each `append_messages` call as one write and fdatasyncs once before it returns, so what it
    returned survives power loss; `never` leaves appends in the OS page cache (they survive the
    process being killed, not the machine losing power). The index is always replaced
    atomically (temporary file, rename); with `always`/`batch` the file and its folder are
    fsynced too.

    Processes: several gateways may share one folder. Index updates are read-modify-write under
    a per-agent flock; appends hold a flock on the transcript itself and re-read what another
    process appended before linking the next entry; `turn_lock` holds a per-session flock for
    the whole turn as well as an in-process lock.

    Damage: see adapters/storage/jsonl.py; repaired interrupted writes are listed in `damage`.

    `read_only=True` (importing another installation's folder) never writes: it creates no
    folder or lock file, repairs nothing (damage is still reported) and refuses every change.
    """

    def __init__(
        self, root: str | Path, fsync: str = "batch", *, cwd: str | None = None, read_only: bool = False
    ) -> None:
        if fsync not in jsonl.FSYNC_POLICIES:
            raise StorageError(f"storage.json.fsync must be one of always, batch, never; not {fsync!r}")
        self._root = Path(root).expanduser()
        self._policy = cast(jsonl.FsyncPolicy, fsync)
        self._cwd = cwd
        self._read_only = read_only
        self._open = False
        self._indexes: dict[str, _Index] = {}
        # Most recently used last; a dropped state is rebuilt by one scan of its file.
        self._transcripts: OrderedDict[Path, jsonl.TranscriptState] = OrderedDict()
        self._file_locks = KeyedLocks()  # transcripts and indexes, by path
        self._turn_locks = KeyedLocks()
        self.damage: list[jsonl.DamageReport] = []

    @property
    def root(self) -> Path:
        return self._root

    @property
    def fsync_policy(self) -> str:
        return self._policy

    def sessions_dir(self, agent_id: str) -> Path:
        return self._root / "agents" / _safe(agent_id, "agent id") / "sessions"

    async def start(self) -> None:
        if self._read_only:
            if not (self._root / "agents").is_dir():
                raise StorageUnavailableError(f"no OpenClaw-style session folder at {self._root / 'agents'}")
            self._open = True
            return
        try:
            (self._root / "agents").mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageUnavailableError(f"cannot create the JSON store folder {self._root}: {exc}") from exc
        if not os.access(self._root / "agents", os.W_OK | os.X_OK):
            raise StorageUnavailableError(f"the JSON store folder {self._root / 'agents'} is not writable")
        if self._cwd is None:
            self._cwd = os.getcwd()
        self._open = True

    async def aclose(self) -> None:
        self._open = False
        self._indexes.clear()
        self._transcripts.clear()

    # -- index ------------------------------------------------------------------------------------

    async def get_session(self, key: str) -> SessionEntry | None:
        self._check_open()
        for agent in await self._agents_for(key):
            index = await self._index(agent)
            value = index.values.get(key)
            if value is not None:
                return self._entry(agent, key, value)
        return None

    async def put_session(self, entry: SessionEntry) -> None:
        self._check_open(writing=True)
        folder = self.sessions_dir(entry.agent_id)
        session_file = str(folder / f"{_safe(entry.session_id, 'session id')}.jsonl")
        moved: ArchivedTranscript | None = None

        def change(values: dict[str, Any]) -> None:
            nonlocal moved
            previous = values.get(entry.key)
            previous = previous if isinstance(previous, dict) else None
            if previous is not None and previous.get("sessionId") != entry.session_id:
                moved = self._archived_record(entry.agent_id, entry.key, previous, entry.updated_at)
            values[entry.key] = fmt.index_value(entry, session_file, previous)

        await self._update_index(entry.agent_id, change)
        # Like a reset: the transcript the key leaves is archived, not left as a stray live file.
        if moved is not None:
            await self._archive(folder / f"{moved.session_id}.jsonl", moved)
        await self._drop_from_other_agents(entry.key, entry.agent_id)

    async def list_sessions(self, agent_id: str | None = None) -> list[SessionEntry]:
        self._check_open()
        agents = [agent_id] if agent_id is not None else await self._all_agents()
        entries: list[SessionEntry] = []
        for agent in agents:
            index = await self._index(agent)
            entries.extend(self._entry(agent, key, value) for key, value in index.values.items())
        entries.sort(key=lambda e: e.key)
        return entries

    async def reset_session(self, key: str, new_session_id: str, now: float) -> SessionEntry:
        self._check_open(writing=True)
        current = await self.get_session(key)
        if current is None:
            raise StorageError(f"cannot reset session {key!r}: it is not in {self._root}")
        fresh = entry_after_reset(current, new_session_id, now)
        folder = self.sessions_dir(current.agent_id)
        new_file = str(folder / f"{_safe(new_session_id, 'session id')}.jsonl")
        old_path: Path | None = None

        def change(values: dict[str, Any]) -> None:
            nonlocal old_path
            value = values.get(key)
            if not isinstance(value, dict) or value.get("sessionId") != current.session_id:
                raise StorageError(f"cannot reset session {key!r}: another process changed it meanwhile; retry")
            old_path = self._resolve_file(folder, current.session_id, value)
            values[key] = fmt.index_value(fresh, new_file, value)

        # The index moves first: a crash before the rename below leaves an unreferenced live
        # file, never a key whose transcript is missing.
        await self._update_index(current.agent_id, change)
        if old_path is not None and old_path.name.endswith(".jsonl"):
            record = ArchivedTranscript(
                session_key=key,
                session_id=current.session_id,
                agent_id=current.agent_id,
                archived_at=now,
                created_at=current.created_at,
            )
            await self._archive(old_path, record)
        return fresh

    # -- transcripts --------------------------------------------------------------------------------

    async def append_messages(self, entry: SessionEntry, messages: Sequence[ChatMessage]) -> list[ChatMessage]:
        self._check_open(writing=True)
        if not messages:
            return []
        folder = self.sessions_dir(entry.agent_id)
        path = await self._transcript_path(folder, entry)
        started = entry.created_at or time.time()
        header = fmt.header(entry.session_id, started, self._cwd or "")
        policy = self._policy
        # Encode-check before touching the file, so a message we cannot store stores none of the batch.
        for message in messages:
            _check_encodable(message, path)

        def work(fd: int, state: jsonl.TranscriptState) -> tuple[list[ChatMessage], jsonl.DamageReport | None]:
            stored, damage, created = jsonl.append(fd, path, state, messages, header, policy)
            if created and policy != "never":
                jsonl.fsync_dir(folder)
            return stored, damage

        # With fsync=never an append only copies bytes into the page cache: microseconds, cheaper
        # than a hop to a worker thread. An fsync can take milliseconds and goes to a thread.
        stored, damage = await self._with_transcript(path, "append to", work, create=True, inline=policy == "never")
        self._note(damage)
        return stored

    async def load_messages(self, entry: SessionEntry) -> list[ChatMessage]:
        self._check_open()
        for _ in range(3):
            path = await self._transcript_path(self.sessions_dir(entry.agent_id), entry)
            if not path.exists():
                return []
            try:
                work = _load_work(path, repair=not self._read_only)
                messages, damage = await self._with_transcript(path, "read", work, create=False)
            except FileNotFoundError:
                continue  # archived by another process between the look-up and the open
            self._note(damage)
            return messages
        raise StorageError(f"transcript of session {entry.session_id!r} keeps moving under {self._root}; retry")

    async def load_messages_from(self, entry: SessionEntry, start: int) -> list[ChatMessage]:
        # A JSONL transcript is read whole anyway (its lines are parsed to find the entries).
        return (await self.load_messages(entry))[max(0, start):]

    async def has_inbound(self, entry: SessionEntry, inbound_id: str) -> bool:
        self._check_open()
        path = await self._transcript_path(self.sessions_dir(entry.agent_id), entry)
        if not path.exists():
            return False

        def work(fd: int, state: jsonl.TranscriptState) -> tuple[bool, jsonl.DamageReport | None]:
            _, damage = jsonl.refresh(fd, path, state, not self._read_only)
            return inbound_id in state.inbound, damage

        try:
            found, damage = await self._with_transcript(path, "read", work, create=False)
        except FileNotFoundError:
            return False
        self._note(damage)
        return found

    def turn_lock(self, key: str) -> AbstractAsyncContextManager[None]:
        return self._turn(key)

    # -- archived transcripts ---------------------------------------------------------------------

    async def list_archived(self, agent_id: str | None = None) -> list[ArchivedTranscript]:
        self._check_open()
        agents = [agent_id] if agent_id is not None else await self._all_agents()
        found: list[ArchivedTranscript] = []
        for agent in agents:
            folder = self.sessions_dir(agent)
            live = _live_ids(await self._index(agent))
            try:
                found.extend(await anyio.to_thread.run_sync(archives.describe_folder, folder, agent, live))
            except OSError as exc:
                raise jsonl.translate_os_error(exc, "list archived transcripts in", folder) from exc
        found.sort(key=lambda a: (a.session_key, a.archived_at, a.session_id))
        return found

    async def load_archived(self, archived: ArchivedTranscript) -> list[ChatMessage]:
        self._check_open()
        folder = self.sessions_dir(archived.agent_id)
        _safe(archived.session_id, "session id")
        for _ in range(3):
            try:
                path = await anyio.to_thread.run_sync(archives.find, folder, archived, False)
            except OSError as exc:
                raise jsonl.translate_os_error(exc, "look for archived transcripts in", folder) from exc
            if path is None:
                return []
            try:
                work = _load_work(path, repair=not self._read_only)
                messages, damage = await self._with_transcript(path, "read", work, create=False)
            except FileNotFoundError:
                continue  # replaced by an import between the look-up and the open
            self._note(damage)
            return messages
        raise StorageError(f"archived transcript {archived.session_id!r} keeps moving under {folder}; retry")

    async def import_archived(self, archived: ArchivedTranscript, messages: Sequence[ChatMessage]) -> None:
        self._check_open(writing=True)
        if not messages:
            return
        folder = self.sessions_dir(archived.agent_id)
        session_id = _safe(archived.session_id, "session id")
        for message in messages:
            _check_encodable(message, folder / session_id)
        if session_id in _live_ids(await self._index(archived.agent_id)):
            raise StorageError(f"cannot import archived transcript {session_id!r}: it is a live session in {folder}")
        digest = hashlib.sha256(session_id.encode()).hexdigest()[:32]
        lock_path = folder / ".locks" / f"archive-{digest}.lock"
        durable = self._policy != "never"
        async with self._file_locks.hold(f"archive:{folder / session_id}"), held_file_lock(lock_path):
            try:
                damage = await anyio.to_thread.run_sync(
                    archives.write_import, folder, archived, messages, self._cwd or "", durable
                )
            except OSError as exc:
                raise jsonl.translate_os_error(exc, "import an archived transcript into", folder) from exc
        self._note(damage)

    @asynccontextmanager
    async def _turn(self, key: str) -> AsyncIterator[None]:
        self._check_open()
        agent = agent_of_key(key) or "main"
        digest = hashlib.sha256(key.encode()).hexdigest()[:32]
        lock_path = self.sessions_dir(agent) / ".locks" / f"turn-{digest}.lock"
        async with self._turn_locks.hold(key):
            if self._read_only:
                yield
                return
            async with held_file_lock(lock_path):
                yield

    # -- plumbing -------------------------------------------------------------------------------

    def _check_open(self, writing: bool = False) -> None:
        if not self._open:
            raise StorageError(f"JSON store {self._root} is not open (call start() first; or it was closed)")
        if writing and self._read_only:
            raise StorageError(f"JSON store {self._root} was opened read-only")

    def _note(self, damage: jsonl.DamageReport | None) -> None:
        if damage is not None:
            self.damage.append(damage)

    def _entry(self, agent: str, key: str, value: Any) -> SessionEntry:
        try:
            return fmt.session_entry(key, agent, value)
        except fmt.FormatError as exc:
            raise CorruptDataError(
                f"{self.sessions_dir(agent) / INDEX_NAME}: {exc}; the file was left as it is"
            ) from exc

    async def _all_agents(self) -> list[str]:
        agents_dir = self._root / "agents"
        try:
            names = sorted(os.listdir(agents_dir))
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise jsonl.translate_os_error(exc, "list agents in", agents_dir) from exc
        return [n for n in names if _SAFE_NAME.match(n) and (agents_dir / n / "sessions").is_dir()]

    async def _agents_for(self, key: str) -> list[str]:
        named = agent_of_key(key)
        others = [a for a in await self._all_agents() if a != named]
        return [named, *others] if named is not None and _SAFE_NAME.match(named) else others

    async def _index(self, agent: str) -> _Index:
        """The agent's index, re-read only when the file changed (each write renames a new file in)."""
        path = self.sessions_dir(agent) / INDEX_NAME
        try:
            info = os.stat(path)
        except FileNotFoundError:
            return _Index((0, 0, 0), {})
        except OSError as exc:
            raise jsonl.translate_os_error(exc, "read", path) from exc
        stamp = (info.st_ino, info.st_mtime_ns, info.st_size)
        cached = self._indexes.get(agent)
        if cached is not None and cached.stamp == stamp:
            return cached
        index = await anyio.to_thread.run_sync(_read_index, path)
        self._indexes[agent] = index
        return index

    async def _update_index(self, agent: str, change: Callable[[dict[str, Any]], None]) -> None:
        folder = self.sessions_dir(agent)
        path = folder / INDEX_NAME
        durable = self._policy != "never"
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise jsonl.translate_os_error(exc, "create", folder) from exc
        async with self._file_locks.hold(str(path)), held_file_lock(folder / ".locks" / "index.lock"):
            index = await anyio.to_thread.run_sync(_read_index, path)
            values = dict(index.values)
            change(values)
            encoded = _encoder.encode(values)
            data = msgspec.json.format(encoded, indent=2) + b"\n"

            def write() -> _Index:
                jsonl.write_atomically(path, data, durable)
                info = os.stat(path)
                # Cached as decoded from what was written: callers keep their own objects.
                return _Index((info.st_ino, info.st_mtime_ns, info.st_size), _decoder.decode(encoded))

            try:
                self._indexes[agent] = await anyio.to_thread.run_sync(write)
            except OSError as exc:
                raise jsonl.translate_os_error(exc, "write", path) from exc

    async def _drop_from_other_agents(self, key: str, agent: str) -> None:
        """A key lives in one agent folder: moving it (agent_id changed) removes the old entry."""
        for other in await self._all_agents():
            if other != agent and key in (await self._index(other)).values:
                await self._update_index(other, lambda values: values.pop(key, None))

    def _archived_record(
        self, agent: str, key: str, previous: dict[str, Any], archived_at: float
    ) -> ArchivedTranscript | None:
        """The archive record of the transcript an index value points at, None if it names none."""
        session_id = previous.get("sessionId")
        if not isinstance(session_id, str) or not _SAFE_NAME.match(session_id):
            return None
        try:
            created_at = fmt.session_entry(key, agent, previous).created_at
        except fmt.FormatError:
            created_at = 0.0
        return ArchivedTranscript(
            session_key=key, session_id=session_id, agent_id=agent, archived_at=archived_at, created_at=created_at
        )

    def _resolve_file(self, folder: Path, session_id: str, value: dict[str, Any] | None) -> Path:
        live = folder / f"{_safe(session_id, 'session id')}.jsonl"
        if live.exists():
            return live
        if value is not None and value.get("sessionId") == session_id:
            named = value.get("sessionFile")
            if isinstance(named, str) and named:
                candidate = Path(named) if Path(named).is_absolute() else folder / named
                if candidate.exists():
                    return candidate
                if (folder / candidate.name).exists():
                    return folder / candidate.name
        archives = sorted(folder.glob(f"{live.name}.reset.*"))
        return archives[-1] if archives else live

    async def _transcript_path(self, folder: Path, entry: SessionEntry) -> Path:
        live = folder / f"{_safe(entry.session_id, 'session id')}.jsonl"
        if live.exists():
            return live
        agent = folder.parent.name
        value = (await self._index(agent)).values.get(entry.key)
        return self._resolve_file(folder, entry.session_id, value if isinstance(value, dict) else None)

    async def _with_transcript(
        self,
        path: Path,
        action: str,
        work: Callable[[int, jsonl.TranscriptState], T],
        *,
        create: bool,
        inline: bool = False,
    ) -> T:
        async with self._file_locks.hold(str(path)):
            mode = os.O_RDONLY if self._read_only else os.O_RDWR | os.O_APPEND
            flags = mode | os.O_CLOEXEC | (os.O_CREAT if create else 0)
            try:
                try:
                    fd = os.open(path, flags, 0o600)
                except FileNotFoundError:
                    if not create:
                        raise
                    path.parent.mkdir(parents=True, exist_ok=True)
                    fd = os.open(path, flags, 0o600)
            except FileNotFoundError:
                raise
            except OSError as exc:
                raise jsonl.translate_os_error(exc, f"{action} transcript", path) from exc
            try:
                await wait_flock(fd)
                state = self._transcript_state(path)
                try:
                    if inline:
                        return work(fd, state)
                    return await anyio.to_thread.run_sync(work, fd, state)
                except OSError as exc:
                    # What the state says about the file can no longer be trusted.
                    self._transcripts.pop(path, None)
                    raise jsonl.translate_os_error(exc, f"{action} transcript", path) from exc
                except CorruptDataError:
                    self._transcripts.pop(path, None)
                    raise
                finally:
                    unlock(fd)
            finally:
                os.close(fd)

    def _transcript_state(self, path: Path) -> jsonl.TranscriptState:
        state = self._transcripts.get(path)
        if state is None:
            state = self._transcripts[path] = jsonl.TranscriptState()
            while len(self._transcripts) > TRANSCRIPT_STATES_KEPT:
                self._transcripts.popitem(last=False)
        else:
            self._transcripts.move_to_end(path)
        return state

    async def _archive(self, path: Path, record: ArchivedTranscript) -> None:
        """Close the transcript with its archive marker and move it to OpenClaw's archive name."""
        target = path.with_name(archive_name(path.name.removesuffix(".jsonl"), record.archived_at))
        async with self._file_locks.hold(str(path)):
            try:
                fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CLOEXEC)
            except FileNotFoundError:
                return
            except OSError as exc:
                raise jsonl.translate_os_error(exc, "archive transcript", path) from exc
            try:
                # Wait for an append in flight (this or another process) before moving the file.
                await wait_flock(fd)
                try:
                    state = self._transcript_state(path)
                    damage = await anyio.to_thread.run_sync(archives.seal, fd, path, state, record, self._policy)
                    os.rename(path, target)
                    if self._policy != "never":
                        jsonl.fsync_dir(path.parent)
                except FileNotFoundError:
                    return
                except OSError as exc:
                    raise jsonl.translate_os_error(exc, "archive transcript", path) from exc
                finally:
                    unlock(fd)
            finally:
                os.close(fd)
            self._transcripts.pop(path, None)
        self._note(damage)


def _load_work(
    path: Path, repair: bool
) -> Callable[[int, jsonl.TranscriptState], tuple[list[ChatMessage], jsonl.DamageReport | None]]:
    def work(fd: int, state: jsonl.TranscriptState) -> tuple[list[ChatMessage], jsonl.DamageReport | None]:
        entries, damage = jsonl.read_all(fd, path, state, repair)
        return jsonl.messages_of(entries, path), damage

    return work


def _live_ids(index: _Index) -> set[str]:
    """Session ids the index points at: their transcripts are live, whatever files exist."""
    values = index.values.values()
    return {v["sessionId"] for v in values if isinstance(v, dict) and isinstance(v.get("sessionId"), str)}


def _read_index(path: Path) -> _Index:
    try:
        with open(path, "rb") as f:
            info = os.fstat(f.fileno())
            data = f.read()
    except FileNotFoundError:
        return _Index((0, 0, 0), {})
    except OSError as exc:
        raise jsonl.translate_os_error(exc, "read", path) from exc
    try:
        values = _decoder.decode(data) if data.strip() else {}
    except msgspec.DecodeError as exc:
        raise CorruptDataError(
            f"session index {path} is not valid JSON ({exc}); it was left as it is: fix it or move it away"
        ) from exc
    if not isinstance(values, dict):
        raise CorruptDataError(f"session index {path} is not a JSON object; it was left as it is")
    return _Index((info.st_ino, info.st_mtime_ns, info.st_size), values)


def _safe(name: str, what: str) -> str:
    if not _SAFE_NAME.match(name) or name in (".", ".."):
        raise StorageError(f"{what} {name!r} cannot be used as a file name (letters, digits, _ . - only)")
    return name


def _check_encodable(message: ChatMessage, path: Path) -> None:
    try:
        _encoder.encode(message.meta)
    except (TypeError, msgspec.EncodeError) as exc:
        raise StorageError(f"meta of message {message.id!r} for {path} cannot be stored as JSON: {exc}") from exc


if TYPE_CHECKING:
    _conforms: type[StorageBackend] = JsonFileStore
