"""Moving from OpenClaw: `storage import-openclaw` and `migrate openclaw` on state folders written
by the real OpenClaw (tests/fixtures/openclaw/state-<version>.tar.xz, made by
scripts/openclaw-fixtures/make.sh), every message compared with an independent reader
(tests/fixtures/openclaw_reader.py) that shares no code with the importer.
"""

from __future__ import annotations

import json
import os
import stat
import tarfile
from pathlib import Path

import anyio
import pytest

from rustyclaw.adapters.openclaw.migrate import describe, plan_migration, run_migration
from rustyclaw.adapters.storage.factory import open_store
from rustyclaw.adapters.storage.jsonfile import JsonFileStore
from rustyclaw.adapters.storage.sqlite import SQLiteStore
from rustyclaw.adapters.storage.transfer import import_openclaw
from rustyclaw.config.loader import load_config
from rustyclaw.domain.errors import StorageError
from rustyclaw.domain.messages import ChatMessage
from rustyclaw.ports.storage import StorageBackend
from tests.fixtures import openclaw_reader as reader

pytestmark = pytest.mark.anyio

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "openclaw"
VERSIONS = ["2026.7.1", "2026.9.6"]
ROLES = {"user": "user", "assistant": "assistant", "tool": "toolResult"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def unpack(version: str, into: Path) -> Path:
    with tarfile.open(FIXTURES / f"state-{version}.tar.xz") as tar:
        tar.extractall(into, filter="data")
    return into / "openclaw-state"


def ours(messages: list[ChatMessage]) -> list[reader.Message]:
    """Our messages reduced the way the reader reduces OpenClaw's."""
    return [
        reader.Message(
            id=m.id,
            role=ROLES[m.role],
            text=m.content,
            tool_calls=tuple((c.id, c.name, reader.canonical_arguments(json.loads(c.arguments))) for c in m.tool_calls),
            tool_call_id=m.tool_call_id if m.role == "tool" else None,
        )
        for m in messages
    ]


async def assert_same_as_reader(state: reader.State, store: StorageBackend) -> None:
    assert state.live, "the fixture holds sessions"
    for key, transcript in state.live.items():
        entry = await store.get_session(key)
        assert entry is not None, key
        assert entry.session_id == transcript.session_id
        assert entry.agent_id == transcript.agent_id
        assert ours(await store.load_messages(entry)) == list(transcript.messages), key
    archived = await store.list_archived()
    got = [(a.session_key, a.agent_id, tuple(ours(await store.load_archived(a)))) for a in archived]
    for transcript in state.archived:
        if transcript.key is None:
            # Classic reset archives record no key: matched by their messages.
            assert any(t == transcript.messages for _, _, t in got), transcript.session_id
        else:
            assert (transcript.key, transcript.agent_id, transcript.messages) in got, transcript.key
    assert len(got) == len(state.archived)


@pytest.mark.parametrize("backend", ["sqlite", "json"])
@pytest.mark.parametrize("version", VERSIONS)
async def test_import_matches_the_independent_reader(version: str, backend: str, tmp_path: Path) -> None:
    root = unpack(version, tmp_path / "oc")
    state = reader.read(root)
    assert state.layout == ("classic" if version == "2026.7.1" else "sqlite")
    before = {p: p.stat().st_mtime_ns for p in root.rglob("*")}
    store: StorageBackend = (
        SQLiteStore(tmp_path / "rc.db") if backend == "sqlite" else JsonFileStore(tmp_path / "rc-json", fsync="never")
    )
    await store.start()
    try:
        report = await import_openclaw(root, store)
        assert report.layout == state.layout
        assert report.sessions == len(state.live)
        assert report.messages == sum(len(t.messages) for t in state.live.values())
        assert report.archives == len(state.archived)
        await assert_same_as_reader(state, store)
        again = await import_openclaw(root, store)
        assert again.messages_copied == 0 and again.archived_messages_copied == 0
    finally:
        await store.aclose()
    # Read-only: nothing in OpenClaw's folder was created or touched (no -shm, no -wal).
    assert {p: p.stat().st_mtime_ns for p in root.rglob("*")} == before


async def test_the_sqlite_fixture_has_what_the_importer_must_carry(tmp_path: Path) -> None:
    """The cases the importer exists for are really in the fixture (not an easy subset)."""
    root = unpack("2026.9.6", tmp_path / "oc")
    state = reader.read(root)
    texts = [m.text for t in state.live.values() for m in t.messages]
    assert any(len(t.encode()) > 10_000 for t in texts)  # stored as event_zstd
    assert any("🇬🇷" in t and "你好" in t and "مرحبا" in t for t in texts)
    assert any(m.tool_calls for t in state.live.values() for m in t.messages)
    assert any(m.role == "toolResult" for t in state.live.values() for m in t.messages)
    assert {t.agent_id for t in state.live.values()} == {"main", "ops"}
    keys = {t.key for t in state.archived}
    assert "agent:main:http-reset" in keys  # a reset in place
    assert "agent:main:http-trash" in keys  # a deleted session
    assert "agent:main:http-trash" not in state.live


async def test_a_folder_without_openclaw_state_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    store = SQLiteStore(tmp_path / "rc.db")
    await store.start()
    try:
        with pytest.raises(StorageError, match="holds no OpenClaw state"):
            await import_openclaw(tmp_path / "empty", store)
    finally:
        await store.aclose()


def test_the_cli_exits_non_zero_on_a_folder_without_state(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from rustyclaw.cli import main

    (tmp_path / "empty").mkdir()
    config = tmp_path / "config.yaml"
    config.write_text(f"gateway:\n  stateDir: {tmp_path / 'rc'}\n")
    assert main(["storage", "import-openclaw", str(tmp_path / "empty"), "--config", str(config)]) != 0
    assert "holds no OpenClaw state" in capsys.readouterr().err


@pytest.mark.parametrize("version", VERSIONS)
async def test_migrate_openclaw_carries_config_state_and_workspaces(
    version: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = unpack(version, tmp_path / "oc")
    home = tmp_path / "rc-home"
    environ = {"HOME": str(tmp_path / "user-home")}
    monkeypatch.delenv("RUSTYCLAW_HOME", raising=False)
    plan = plan_migration(root, home, environ)
    text = describe(plan, dry_run=True)
    assert not home.exists()  # planning writes nothing
    assert "gateway.mode" in text and "MOCK_MODEL_KEY" in text  # reported, with reasons
    said: list[str] = []
    result = await run_migration(plan, environ, said.append)
    assert [s.split("]")[0] for s in said] == ["[1/4", "[2/4", "[3/4", "[4/4"]
    assert result.config == "written"

    # The config validates with RustyClaw's own loader and keeps OpenClaw's settings.
    loaded = load_config(home / "config.yaml", env={**environ, "RUSTYCLAW_HOME": str(home)})
    cfg = loaded.config
    assert cfg.sessions.dm_scope == "per-channel-peer"
    assert (cfg.sessions.reset.mode, cfg.sessions.reset.at_hour) == ("daily", 4)
    assert cfg.sessions.reset_by_type["group"].idle_minutes == 120
    assert cfg.tools.profile == "coding"
    assert [a.id for a in cfg.agents.list] == ["main", "ops"]
    assert cfg.gateway.openai_endpoint.enabled is True
    # The job made with `openclaw cron add`; OpenClaw's own declared jobs are reported, not copied.
    assert [(j.id, j.schedule.cron, j.message) for j in cfg.cron.jobs] == [
        ("daily-digest", "0 7 * * *", "Summarise yesterday")
    ]
    # Secrets in secrets.env (private), never inline.
    config_text = (home / "config.yaml").read_text()
    assert "fixture-token-not-secret" not in config_text
    secrets = (home / "secrets.env").read_text()
    assert "RUSTYCLAW_GATEWAY_TOKEN=" in secrets and "fixture-token-not-secret" in secrets
    assert stat.S_IMODE(os.stat(home / "secrets.env").st_mode) == 0o600
    assert cfg.gateway.auth.token == "fixture-token-not-secret"

    # Workspace files arrived byte for byte.
    for copy in plan.workspaces:
        assert copy.files
        for rel in copy.files:
            assert (copy.target / rel).read_bytes() == (copy.source / rel).read_bytes()
    assert (home / "workspace" / "AGENTS.md").is_file()

    # Every message, compared with the independent reader, in the store the config names.
    store = open_store(cfg.storage, Path(cfg.gateway.state_dir))
    await store.start()
    try:
        await assert_same_as_reader(reader.read(root), store)
    finally:
        await store.aclose()

    # Idempotent: a second run changes nothing.
    again = await run_migration(plan_migration(root, home, environ), environ, said.append)
    assert again.config == "unchanged" and again.secrets_written == 0
    assert again.workspace_copied == 0 and again.workspace_unchanged == result.workspace_copied
    assert "copied 0 messages" in again.sessions_summary


@pytest.mark.parametrize("version", VERSIONS)
def test_archives_are_visible_in_the_sessions_cli(
    version: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from rustyclaw.cli import main

    root = unpack(version, tmp_path / "oc")
    home = tmp_path / "rc-home"
    environ = {"HOME": str(tmp_path / "user-home")}
    plan = plan_migration(root, home, environ)
    anyio.run(lambda: run_migration(plan, environ, lambda _: None))
    monkeypatch.setenv("RUSTYCLAW_HOME", str(home))
    config = str(home / "config.yaml")
    capsys.readouterr()
    assert main(["sessions", "list", "--archived", "--config", config]) == 0
    listed = capsys.readouterr().out
    assert "agent:main:http-reset\t" in listed and "agent:main:http-trash\t" in listed
    assert main(["sessions", "show", "agent:main:http-trash", "--archived", "--config", config]) == 0
    shown = capsys.readouterr().out
    assert "Doomed session" in shown and "archived" in shown
    assert main(["sessions", "show", "agent:main:http-reset", "--archived", "--config", config]) == 0
    shown = capsys.readouterr().out
    assert shown.index("Before reset, first") < shown.index("After reset, only this one counts")


def test_the_migrate_command_plans_then_migrates(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from rustyclaw.cli import main

    root = unpack("2026.9.6", tmp_path / "oc")
    home = tmp_path / "rc-home"
    assert main(["migrate", "openclaw", str(root), "--home", str(home), "--dry-run"]) == 0
    out = capsys.readouterr()
    assert "Plan: " in out.out and "Not carried over" in out.out and "state: sqlite layout" in out.out
    assert not home.exists()
    assert main(["migrate", "openclaw", str(root), "--home", str(home)]) == 0
    out = capsys.readouterr()
    assert "[4/4] sessions (sqlite layout)" in out.err
    assert "sessions, counts verified: 6 sessions, 30 messages" in out.out
    assert "3 archived transcripts, 14 messages" in out.out
    assert f"export RUSTYCLAW_HOME={home}" in out.out
    assert main(["migrate", "openclaw", str(tmp_path / "nothing-here"), "--home", str(home)]) != 0
