"""How many trips to the database one `POST /v1/chat/completions` turn makes on SQLite (issue #19).

Counts, not times: each trip to aiosqlite's thread (and any `to_thread` call) is a handoff between
threads, which is most of what the store costs a turn; each commit is a WAL write. The real root
(core, `storage.backend: sqlite`) answers through the ASGI app with an instant scripted model.

Before (00c94c8) a session's later turns made 4 trips and 3 commits (read the session, append the
user's message, append the answer, save the session); its first turn 6 (also: create the session,
load the empty transcript). A keyed request (Idempotency-Key) added 11 trips to the journal.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio.to_thread
import httpx
import pytest

from rustyclaw.adapters.http.app import create_app
from rustyclaw.adapters.http.idempotency import IdempotentTurns
from rustyclaw.adapters.http.settings import HttpSettings
from rustyclaw.adapters.inbox.sqlite import SqliteInbox
from rustyclaw.adapters.storage.sqlite import SQLiteStore
from rustyclaw.app import Root, bootstrap
from rustyclaw.config.schema import RustyClawConfig
from rustyclaw.settings import settings_of
from tests.unit.fakes import ScriptedLLM

pytestmark = pytest.mark.anyio

CHAT = "/v1/chat/completions"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class _Counted:
    """An sqlite3 connection that notes every statement its users run (on its own thread)."""

    def __init__(self, real: sqlite3.Connection, statements: list[str]) -> None:
        self._real = real
        self._statements = statements

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
        before = self._real.in_transaction
        cursor = self._real.execute(sql, *args)
        if not before and self._real.in_transaction and not sql.lstrip().upper().startswith("BEGIN"):
            self._statements.append("BEGIN")  # the one the sqlite3 module issues before a write by itself
        self._statements.append(sql)
        return cursor

    def executemany(self, sql: str, *args: Any) -> sqlite3.Cursor:
        self._statements.append(sql)
        return self._real.executemany(sql, *args)

    def executescript(self, script: str) -> sqlite3.Cursor:
        self._statements.extend(s for s in script.split(";") if s.strip())
        return self._real.executescript(script)

    def commit(self) -> None:
        if self._real.in_transaction:
            self._statements.append("COMMIT")
        self._real.commit()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


@dataclass
class Trips:
    """What one aiosqlite connection was asked to do: trips to its thread and statements run there."""

    hops: int = 0
    statements: list[str] = field(default_factory=list)

    def watch(self, db: Any) -> None:
        # aiosqlite runs everything as a function on its thread through `_execute`, against `_connection`.
        db._connection = _Counted(db._connection, self.statements)
        submit = db._execute

        @functools.wraps(submit)
        async def counted(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
            self.hops += 1
            return await submit(fn, *args, **kwargs)

        db._execute = counted

    def commits(self) -> int:
        """Write transactions: COMMITs, plus each write made outside BEGIN ... COMMIT (autocommitted,
        whether or not it changed a row)."""
        count, open_ = 0, False
        for sql in self.statements:
            word = sql.lstrip().split(None, 1)[0].upper()
            if word == "BEGIN":
                open_ = True
            elif word in ("COMMIT", "END"):
                count, open_ = count + 1, False
            elif word == "ROLLBACK":
                open_ = False
            elif word in ("INSERT", "UPDATE", "DELETE", "REPLACE") and not open_:
                count += 1
        return count

    def take(self) -> tuple[int, int, int]:
        """(hops, statements, commits) since the last take."""
        figures = (self.hops, len(self.statements), self.commits())
        self.hops, self.statements[:] = 0, []
        return figures


@pytest.fixture
async def root(tmp_path: Path) -> AsyncIterator[Root]:
    (tmp_path / "ws").mkdir()
    cfg = RustyClawConfig.model_validate({
        "gateway": {"stateDir": str(tmp_path / "state")},
        "agents": {"workspace": str(tmp_path / "ws")},
        "llm": {"embedded": {"enabled": False}},
        "storage": {"backend": "sqlite"},
    })
    async with bootstrap(settings_of(cfg), "core", llm=ScriptedLLM()) as started:
        yield started


@pytest.fixture
def thread_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Calls into a worker thread other than aiosqlite's own (anyio's and asyncio's to_thread)."""
    import asyncio

    calls: list[str] = []
    for module, name in ((anyio.to_thread, "run_sync"), (asyncio, "to_thread")):
        original = getattr(module, name)

        def counting(*args: Any, _original: Any = original, **kwargs: Any) -> Any:
            calls.append(getattr(args[0], "__qualname__", repr(args[0])))
            return _original(*args, **kwargs)

        monkeypatch.setattr(module, name, counting)
    return calls


async def _store_trips(root: Root) -> Trips:
    store = root.store
    assert isinstance(store, SQLiteStore)
    trips = Trips()
    trips.watch(store._open_db())
    return trips


async def _chat(http: httpx.AsyncClient, user: str, text: str, **headers: str) -> None:
    response = await http.post(CHAT, json={"user": user, "messages": [{"role": "user", "content": text}]},
                               headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == "ok"


def _client(root: Root, idempotent: IdempotentTurns | None = None) -> httpx.AsyncClient:
    settings = HttpSettings(openai_enabled=True)
    app = create_app(root.gateway, settings, idempotent=idempotent)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1")


async def test_a_turn_makes_two_trips_to_the_store_and_two_commits(root: Root, thread_calls: list[str]) -> None:
    trips = await _store_trips(root)
    async with _client(root) as http:
        await _chat(http, "alice", "hello")
        first = trips.take()
        for n in range(3):
            await _chat(http, "alice", f"and {n}?")
            # Read the session; append the user's message; append the answer and save the session
            # (one transaction: BEGIN, INSERT, upsert, COMMIT).
            assert trips.take() == (3, 6, 2)
    # The first turn also creates the session, and loads no transcript (a new session has none).
    assert first == (4, 7, 3)
    assert thread_calls == []
    history = await root.store.load_messages(await _session(root, "alice"))
    assert [m.role for m in history] == ["user", "assistant"] * 4


async def test_a_keyed_request_makes_four_trips_to_the_journal(
    root: Root, tmp_path: Path, thread_calls: list[str]
) -> None:
    inbox = SqliteInbox(tmp_path / "inbox.db")
    await inbox.start()
    try:
        async def journal() -> SqliteInbox:
            return inbox

        journal_trips = Trips()
        journal_trips.watch(inbox._conn())
        store_trips = await _store_trips(root)
        async with _client(root, IdempotentTurns(journal, root.clock)) as http:
            await _chat(http, "bob", "hello", **{"Idempotency-Key": "k-1"})
            store_trips.take()
            journal_trips.take()
            await _chat(http, "bob", "again", **{"Idempotency-Key": "k-2"})
            # record, finish("done"), reply_once (UPDATE + SELECT), finish("delivered"): each write
            # one autocommitted statement (before: 11 trips, an execute and a commit per write).
            assert journal_trips.take() == (5, 5, 4)
            # A keyed message has an inbound id: whether it is stored already is asked in the same
            # read as the session (before: a read of its own, 4 trips).
            assert store_trips.take() == (3, 6, 2)
            await _chat(http, "bob", "again", **{"Idempotency-Key": "k-2"})  # a retry: from the journal
            assert journal_trips.take() == (2, 2, 1)  # record (ignored: the key is known), get
            assert store_trips.take() == (0, 0, 0)
        assert thread_calls == []
    finally:
        await inbox.aclose()


async def _session(root: Root, user: str) -> Any:
    sessions = await root.store.list_sessions()
    (entry,) = [s for s in sessions if user in s.key]
    return entry
