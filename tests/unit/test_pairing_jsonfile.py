"""The JSON file pairing store (OpenClaw's credentials layout) and the `pairing` CLI functions."""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from rustyclaw.adapters.clock import SystemClock
from rustyclaw.adapters.pairing.jsonfile import JsonFilePairingStore
from rustyclaw.cli_pairing import add_pairing_parser, run_pairing
from rustyclaw.domain.errors import InvalidInputError
from rustyclaw.domain.pairing import PairingService


def service(state: Path) -> PairingService:
    return PairingService(JsonFilePairingStore(state), SystemClock())


@pytest.mark.anyio
async def test_files_follow_the_openclaw_layout(tmp_path: Path) -> None:
    pairing = service(tmp_path)
    outcome = await pairing.request("telegram", "42", sender_name="ann", account="work")
    data = json.loads((tmp_path / "credentials" / "telegram-pairing.json").read_text())
    assert data["version"] == 1
    [row] = data["requests"]
    assert row["id"] == "42" and row["code"] == outcome.code
    assert row["createdAt"].endswith("Z") and row["meta"] == {"name": "ann", "accountId": "work"}
    assert outcome.code is not None
    await pairing.approve("telegram", outcome.code)
    allow = json.loads((tmp_path / "credentials" / "telegram-allowFrom.json").read_text())
    assert allow == {"version": 1, "allowFrom": ["42"]}
    assert json.loads((tmp_path / "credentials" / "telegram-pairing.json").read_text())["requests"] == []
    assert (tmp_path / "credentials" / "telegram-allowFrom.json").stat().st_mode & 0o077 == 0


@pytest.mark.anyio
async def test_state_survives_a_new_store_and_sees_other_writers(tmp_path: Path) -> None:
    first = service(tmp_path)
    outcome = await first.request("telegram", "7")
    assert outcome.code is not None
    second = service(tmp_path)
    assert (await second.request("telegram", "7")).code == outcome.code
    assert not await first.is_approved("telegram", "7")
    await second.approve("telegram", outcome.code)
    assert await first.is_approved("telegram", "7")  # the cached set follows the file


@pytest.mark.anyio
async def test_a_corrupt_file_is_moved_aside_and_treated_as_empty(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "credentials"
    folder.mkdir()
    (folder / "telegram-pairing.json").write_text("{not json")
    pairing = service(tmp_path)
    assert await pairing.pending("telegram") == []
    assert [p.name for p in folder.glob("telegram-pairing.json.corrupt-*")]
    assert "does not parse" in caplog.text
    assert (await pairing.request("telegram", "1")).code is not None


@pytest.mark.anyio
async def test_a_channel_name_cannot_leave_the_folder(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError):
        await JsonFilePairingStore(tmp_path).approved("../etc")


_WRITER = """
import anyio, sys
from rustyclaw.adapters.clock import SystemClock
from rustyclaw.adapters.pairing.jsonfile import JsonFilePairingStore
store = JsonFilePairingStore(sys.argv[1])
async def main():
    for n in range(25):
        await store.add_approved("telegram", f"{sys.argv[2]}-{n}")
anyio.run(main)
"""


def test_writers_in_other_processes_lose_nothing(tmp_path: Path) -> None:
    procs = [
        subprocess.Popen([sys.executable, "-c", _WRITER, str(tmp_path), tag]) for tag in ("a", "b", "c")
    ]
    assert [p.wait(timeout=60) for p in procs] == [0, 0, 0]
    approved = anyio.run(JsonFilePairingStore(tmp_path).approved, "telegram")
    assert len(approved) == 75


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="rustyclaw")
    add_pairing_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


def test_cli_list_and_approve(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pairing = service(tmp_path)
    outcome = anyio.run(lambda: pairing.request("telegram", "555", sender_name="bob"))
    anyio.run(pairing.request, "discord", "666")
    assert outcome.code is not None

    out = io.StringIO()
    assert run_pairing(parse(["pairing", "list", "--state-dir", str(tmp_path)]), out=out) == 0
    listing = out.getvalue()
    assert outcome.code in listing and "555" in listing and "bob" in listing and "discord" in listing

    out = io.StringIO()
    assert run_pairing(parse(["pairing", "list", "telegram"]), state_dir=tmp_path, out=out) == 0
    assert "discord" not in out.getvalue()

    out = io.StringIO()
    args = parse(["pairing", "approve", "telegram", outcome.code.lower()])
    assert run_pairing(args, state_dir=tmp_path, out=out) == 0
    assert "Approved 555 (bob) on telegram" in out.getvalue()
    assert anyio.run(pairing.is_approved, "telegram", "555")

    assert run_pairing(args, state_dir=tmp_path, out=io.StringIO()) == 1
    assert "No pending pairing code" in capsys.readouterr().err

    out = io.StringIO()
    run_pairing(parse(["pairing", "list", "telegram"]), state_dir=tmp_path, out=out)
    assert "No pending pairing requests on telegram" in out.getvalue()


def test_cli_defaults_to_the_rustyclaw_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUSTYCLAW_HOME", str(tmp_path))
    out = io.StringIO()
    assert run_pairing(parse(["pairing", "list"]), out=out) == 0
    assert "No pending pairing requests." in out.getvalue()
