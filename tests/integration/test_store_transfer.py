"""`storage copy` between backends and the OpenClaw import, on real stores."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import pytest

from rustyclaw.adapters.storage.jsonfile import JsonFileStore
from rustyclaw.adapters.storage.postgres import PostgresStore
from rustyclaw.adapters.storage.sqlite import SQLiteStore
from rustyclaw.adapters.storage.transfer import copy_store, import_openclaw, run_copy, verify_copy
from rustyclaw.config.schema import StorageConfig
from rustyclaw.domain.errors import StorageError
from rustyclaw.domain.messages import ChatMessage, SessionEntry, ToolCall
from rustyclaw.ports.archive import ArchivedTranscript
from rustyclaw.ports.storage import StorageBackend
from tests.fixtures.postgres_schema import temporary_schema
from tests.integration.test_store_json_format import OPENCLAW_TRANSCRIPT, write_openclaw

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@asynccontextmanager
async def backend(kind: str, tmp_path: Path) -> AsyncIterator[StorageBackend]:
    store: StorageBackend
    async with AsyncExitStack() as stack:
        if kind == "sqlite":
            store = SQLiteStore(tmp_path / f"{kind}.db")
        elif kind == "json":
            store = JsonFileStore(tmp_path / "json", fsync="never")
        else:
            store = PostgresStore(await stack.enter_async_context(temporary_schema("copy")))
        await store.start()
        stack.push_async_callback(store.aclose)
        yield store


def session(n: int) -> SessionEntry:
    return SessionEntry(
        key=f"agent:{'ops' if n % 3 == 0 else 'main'}:telegram:direct:{n}",
        session_id=f"sess-{n}",
        agent_id="ops" if n % 3 == 0 else "main",
        created_at=1_700_000_000.0 + n,
        updated_at=1_700_000_100.5 + n,
        channel="telegram",
        total_tokens=n * 10,
        meta={"n": n},
    )


def conversation(n: int) -> list[ChatMessage]:
    out: list[ChatMessage] = []
    for i in range(n):
        out.append(ChatMessage(role="user", content=f"q{i}", inbound_id=f"in-{i}", tokens=i, created_at=1.0 + i))
        out.append(
            ChatMessage(
                role="assistant",
                tool_calls=(ToolCall(id=f"c{i}", name="read", arguments='{"path": "x"}'),) if i % 2 else (),
                content="" if i % 2 else f"a{i}",
                meta={"usage": {"prompt_tokens": i}},
            )
        )
    return out


async def fill(store: StorageBackend, sessions: int = 5, turns: int = 30) -> dict[str, list[ChatMessage]]:
    written: dict[str, list[ChatMessage]] = {}
    for n in range(sessions):
        entry = session(n)
        await store.put_session(entry)
        written[entry.key] = await store.append_messages(entry, conversation(turns + n))
    return written


PAIRS = [
    pytest.param("sqlite", "json", id="sqlite-to-json"),
    pytest.param("json", "sqlite", id="json-to-sqlite"),
    pytest.param("json", "postgres", id="json-to-postgres", marks=pytest.mark.postgres),
    pytest.param("postgres", "sqlite", id="postgres-to-sqlite", marks=pytest.mark.postgres),
]


@pytest.mark.parametrize(("src_kind", "dst_kind"), PAIRS)
async def test_copy_moves_every_session_and_message(src_kind: str, dst_kind: str, tmp_path: Path) -> None:
    async with backend(src_kind, tmp_path) as src, backend(dst_kind, tmp_path) as dst:
        written = await fill(src)
        calls: list[tuple[int, int]] = []
        report = await copy_store(src, dst, lambda done, total: calls.append((done, total)))
        assert (report.sessions, report.sessions_copied) == (5, 5)
        assert report.messages == report.messages_copied == sum(len(v) for v in written.values())
        assert calls == [(i, 5) for i in range(6)]
        assert await dst.list_sessions() == await src.list_sessions()
        for entry in await src.list_sessions():
            assert await dst.load_messages(entry) == written[entry.key]
            assert await dst.has_inbound(entry, "in-0")


async def test_an_interrupted_copy_resumes_without_duplicates(tmp_path: Path) -> None:
    async with backend("sqlite", tmp_path) as src, backend("json", tmp_path) as dst:
        await fill(src)
        first = (await src.list_sessions())[0]
        # Half of the first session made it before the interruption.
        half = (await src.load_messages(first))[:20]
        await dst.append_messages(first, half)

        class Interrupted(Exception):
            pass

        def stop_after_two(done: int, total: int) -> None:
            if done == 2:
                raise Interrupted

        with pytest.raises(Interrupted):
            await copy_store(src, dst, stop_after_two)
        report = await copy_store(src, dst)
        assert report.sessions_already_there == 2
        assert report.messages_already_there > 20
        await verify_copy(src, dst)
        for entry in await src.list_sessions():
            ids = [m.id for m in await dst.load_messages(entry)]
            assert len(ids) == len(set(ids))
        # A third run finds everything in place.
        again = await copy_store(src, dst)
        assert (again.messages_copied, again.sessions_already_there) == (0, 5)


async def test_a_fresh_copy_refuses_a_destination_that_holds_the_keys(tmp_path: Path) -> None:
    async with backend("sqlite", tmp_path) as src, backend("json", tmp_path) as dst:
        await fill(src, sessions=2, turns=2)
        await copy_store(src, dst)
        with pytest.raises(StorageError, match="already holds 2"):
            await copy_store(src, dst, resume=False)


async def test_a_key_on_another_session_id_is_a_conflict(tmp_path: Path) -> None:
    async with backend("sqlite", tmp_path) as src, backend("json", tmp_path) as dst:
        await fill(src, sessions=1, turns=1)
        entry = (await src.list_sessions())[0]
        await dst.put_session(SessionEntry(key=entry.key, session_id="other", agent_id=entry.agent_id))
        with pytest.raises(StorageError, match="destination has session other"):
            await copy_store(src, dst)


async def test_verification_notices_a_missing_message(tmp_path: Path) -> None:
    async with backend("json", tmp_path) as src, backend("sqlite", tmp_path) as dst:
        await fill(src, sessions=2, turns=3)
        await copy_store(src, dst)
        with sqlite3.connect(tmp_path / "sqlite.db") as conn:
            conn.execute("DELETE FROM messages WHERE seq = (SELECT max(seq) FROM messages)")
        with pytest.raises(StorageError, match=r"verification failed for 1 sessions.*\(1 missing\)"):
            await verify_copy(src, dst)


async def test_import_openclaw_into_sqlite(tmp_path: Path) -> None:
    openclaw = tmp_path / "openclaw"
    folder = write_openclaw(openclaw)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    async with backend("sqlite", tmp_path) as dst:
        report = await import_openclaw(openclaw, dst)
        assert (report.sessions, report.messages, report.messages_copied) == (2, 6, 6)
        main = await dst.get_session("agent:main:main")
        assert main is not None and main.total_tokens == 70
        messages = await dst.load_messages(main)
        assert [m.role for m in messages] == ["user", "assistant", "tool", "system", "user"]
        assert messages[1].meta["openclaw"]["content"][0]["type"] == "thinking"
        again = await import_openclaw(openclaw, dst)
        assert again.messages_copied == 0
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


async def test_run_copy_builds_both_stores_from_the_config(tmp_path: Path) -> None:
    storage = StorageConfig.model_validate(
        {"backend": "sqlite", "json": {"dir": str(tmp_path / "j"), "fsync": "never"}}
    )
    src = SQLiteStore(tmp_path / "rustyclaw.db")
    await src.start()
    await fill(src, sessions=2, turns=2)
    await src.aclose()
    seen: list[int] = []
    report = await run_copy(storage, tmp_path, "sqlite", "json", progress=lambda done, total: seen.append(done))
    assert report.sessions_copied == 2 and seen[-1] == 2
    assert (tmp_path / "j" / "agents" / "main" / "sessions" / "sessions.json").exists()
    with pytest.raises(StorageError, match="both 'json'"):
        await run_copy(storage, tmp_path, "json", "json")


async def fill_with_resets(store: StorageBackend) -> dict[str, list[ChatMessage]]:
    """`fill`, then resets: session 0 once, session 1 twice (each with messages), session 2 once
    before anything new was said. Returns the stored messages of every archived session id."""
    written = await fill(store, sessions=4, turns=3)
    archived: dict[str, list[ChatMessage]] = {}
    for n, resets in ((0, 1), (1, 2), (2, 1)):
        key = session(n).key
        for r in range(resets):
            current = await store.get_session(key)
            assert current is not None
            archived[current.session_id] = await store.load_messages(current)
            fresh = await store.reset_session(key, f"sess-{n}-r{r}", 1_700_001_000.25 + 10 * n + r)
            if n != 2 or r < resets - 1:
                await store.append_messages(fresh, conversation(2))
    del written
    return {sid: msgs for sid, msgs in archived.items() if msgs}


@pytest.mark.parametrize(("src_kind", "dst_kind"), PAIRS)
async def test_copy_brings_archived_transcripts(src_kind: str, dst_kind: str, tmp_path: Path) -> None:
    async with backend(src_kind, tmp_path) as src, backend(dst_kind, tmp_path) as dst:
        archived = await fill_with_resets(src)
        listed = await src.list_archived()
        assert sorted(a.session_id for a in listed) == sorted(archived) == ["sess-0", "sess-1", "sess-1-r0", "sess-2"]
        calls: list[tuple[int, int]] = []
        report = await copy_store(src, dst, lambda done, total: calls.append((done, total)))
        assert (report.archives, report.archives_copied, report.archives_already_there) == (4, 4, 0)
        assert report.archived_messages == report.archived_messages_copied == sum(len(m) for m in archived.values())
        assert "4 archived transcripts" in report.summary()
        assert calls == [(i, 8) for i in range(9)]
        assert await dst.list_archived() == listed
        for record in listed:
            assert await dst.load_archived(record) == archived[record.session_id]
        assert await dst.list_sessions() == await src.list_sessions()
        again = await copy_store(src, dst)
        assert (again.archives_already_there, again.archived_messages_copied) == (4, 0)


async def test_an_interrupted_copy_resumes_archives_without_duplicates(tmp_path: Path) -> None:
    async with backend("sqlite", tmp_path) as src, backend("json", tmp_path) as dst:
        archived = await fill_with_resets(src)
        listed = await src.list_archived()
        # Half of one archive made it before an earlier interruption.
        first = listed[0]
        await dst.import_archived(first, archived[first.session_id][:3])

        class Interrupted(Exception):
            pass

        def stop_in_the_archives(done: int, total: int) -> None:
            if done == 6:  # 4 sessions and 2 archives done
                raise Interrupted

        with pytest.raises(Interrupted):
            await copy_store(src, dst, stop_in_the_archives)
        report = await copy_store(src, dst)
        assert (report.archives_already_there, report.archives_copied) == (2, 2)
        assert report.archived_messages_already_there == sum(len(archived[a.session_id]) for a in listed[:2])
        await verify_copy(src, dst)
        for record in listed:
            ids = [m.id for m in await dst.load_archived(record)]
            assert ids == [m.id for m in archived[record.session_id]]


async def test_verification_notices_a_missing_archived_message(tmp_path: Path) -> None:
    async with backend("json", tmp_path) as src, backend("sqlite", tmp_path) as dst:
        await fill_with_resets(src)
        await copy_store(src, dst)
        with sqlite3.connect(tmp_path / "sqlite.db") as conn:
            conn.execute(
                "DELETE FROM messages WHERE seq = (SELECT max(seq) FROM messages WHERE session_id = 'sess-1-r0')"
            )
        with pytest.raises(StorageError, match=r"archived sess-1-r0 of agent:main:telegram:direct:1: .*\(1 missing\)"):
            await verify_copy(src, dst)


async def test_an_archived_session_id_live_in_the_destination_is_a_conflict(tmp_path: Path) -> None:
    async with backend("sqlite", tmp_path) as src, backend("json", tmp_path) as dst:
        await fill_with_resets(src)
        await dst.put_session(SessionEntry(key="agent:main:elsewhere", session_id="sess-0"))
        conflict = r"archived sess-0 of \S+ \(live in the destination under agent:main:elsewhere\)"
        with pytest.raises(StorageError, match=conflict):
            await copy_store(src, dst)
        assert await dst.list_archived() == []


async def test_a_fresh_copy_refuses_archives_already_in_the_destination(tmp_path: Path) -> None:
    async with backend("sqlite", tmp_path) as src, backend("json", tmp_path) as dst:
        archived = await fill_with_resets(src)
        record = (await src.list_archived())[0]
        await dst.import_archived(record, archived[record.session_id])
        with pytest.raises(StorageError, match=f"already holds 1 .*archived {record.session_id}"):
            await copy_store(src, dst, resume=False)


async def test_import_openclaw_brings_its_reset_archives(tmp_path: Path) -> None:
    openclaw = tmp_path / "openclaw"
    folder = write_openclaw(openclaw)
    # OpenClaw archived an earlier transcript of agent:main:main: its name holds the session id
    # and the time of the reset, its header the start; the key is nowhere in the file.
    old = [dict(e) for e in OPENCLAW_TRANSCRIPT[:2]]
    old[0]["id"] = "0ld-sess"
    (folder / "0ld-sess.jsonl.reset.2025-12-31T04-00-00.250Z").write_text("".join(json.dumps(e) + "\n" for e in old))
    (folder / "0ld-sess.jsonl.reset.2025-12-31T04-00-00.250Z.damaged").write_text("not an archive\n")
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    async with backend("sqlite", tmp_path) as dst:
        report = await import_openclaw(openclaw, dst)
        assert (report.sessions, report.messages) == (2, 6)
        assert (report.archives, report.archived_messages, report.archived_messages_copied) == (1, 1, 1)
        assert await dst.list_archived() == [
            ArchivedTranscript(
                session_key="agent:main:archived:0ld-sess",
                session_id="0ld-sess",
                agent_id="main",
                archived_at=1_767_153_600.25,
                created_at=1_767_225_600.0,
            )
        ]
        [message] = await dst.load_archived((await dst.list_archived())[0])
        assert (message.id, message.content) == ("a1", "What is in AGENTS.md?")
        again = await import_openclaw(openclaw, dst)
        assert (again.archives_already_there, again.archived_messages_copied) == (1, 0)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
