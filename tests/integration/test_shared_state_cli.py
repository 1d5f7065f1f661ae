"""`rustyclaw pairing` on `storage.backend: postgres` lists and approves the codes in the database,
where every gateway replica issued and reads them (issue #16)."""

from __future__ import annotations

import argparse
import io
import time
from pathlib import Path

import anyio
import pytest

from rustyclaw.adapters.pairing.postgres import PostgresPairingStore
from rustyclaw.adapters.storage.pg_pool import PgPool
from rustyclaw.cli_pairing import run_pairing
from rustyclaw.config.schema import StorageConfig
from rustyclaw.domain.pairing import PairingService
from tests.fixtures.postgres_schema import temporary_schema
from tests.unit.fakes import FakeClock

pytestmark = pytest.mark.postgres


def test_pairing_cli_approves_a_code_a_replica_issued_in_postgresql(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with temporary_schema("cli") as dsn:
            pool = PgPool(dsn)
            await pool.start()
            try:
                service = PairingService(PostgresPairingStore(pool), FakeClock(time.time()))
                code = (await service.request("telegram", "777", sender_name="Zoe")).code
                assert code is not None
                storage = StorageConfig.model_validate({"backend": "postgres", "postgres": {"dsn": dsn}})

                def cli(action: str, *rest: str) -> tuple[int, str]:
                    out = io.StringIO()
                    args = argparse.Namespace(command="pairing", action=action, channel=rest[0] if rest else None,
                                              code=rest[1] if len(rest) > 1 else None)
                    return run_pairing(args, state_dir=tmp_path, out=out, storage=storage), out.getvalue()

                listed = await anyio.to_thread.run_sync(cli, "list")
                assert listed[0] == 0 and code in listed[1] and "Zoe" in listed[1]
                approved = await anyio.to_thread.run_sync(cli, "approve", "telegram", code)
                assert approved == (0, "Approved 777 (Zoe) on telegram.\n")
                assert await service.is_approved("telegram", "777")
            finally:
                await pool.aclose()

    anyio.run(scenario)
    assert not (tmp_path / "credentials").exists()


def test_cron_cli_adds_lists_and_removes_jobs_in_postgresql(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from rustyclaw.adapters.cron.postgres import PostgresAddedJobs, PostgresRunLog
    from rustyclaw.adapters.cron.run_log import RunRecord
    from rustyclaw.cli_cron import run_cron

    async def scenario() -> None:
        async with temporary_schema("croncli") as dsn:
            config = tmp_path / "rustyclaw.json"
            config.write_text(json.dumps({"gateway": {"stateDir": str(tmp_path / "state")},
                                          "storage": {"backend": "postgres", "postgres": {"dsn": dsn}}}))
            pool = PgPool(dsn)
            await pool.start()
            try:
                def cli(action: str, **extra: object) -> int:
                    args = argparse.Namespace(config=str(config), action=action, json=True, **extra)
                    return run_cron(args)

                add = {"job_id": "standup", "cron_expr": None, "every": "1h", "at": None, "message": "Standup?",
                       "agent": None, "channel": None, "to": None, "account": None}
                assert await anyio.to_thread.run_sync(lambda: cli("add", **add)) == 0
                assert [j.id for j in await PostgresAddedJobs(pool).load()] == ["standup"]  # another replica's view
                capsys.readouterr()
                assert await anyio.to_thread.run_sync(lambda: cli("list")) == 0
                assert [row["id"] for row in json.loads(capsys.readouterr().out)] == ["standup"]

                await PostgresRunLog(pool).append(RunRecord(job_id="standup", started_at=1.0, finished_at=2.0,
                                                            status="ok", note="kept"))
                assert await anyio.to_thread.run_sync(lambda: cli("runs", job_id=None, limit=5)) == 0
                assert [r["note"] for r in json.loads(capsys.readouterr().out)] == ["kept"]

                assert await anyio.to_thread.run_sync(lambda: cli("remove", job_id="standup")) == 0
                assert await PostgresAddedJobs(pool).load() == []
            finally:
                await pool.aclose()

    anyio.run(scenario)
    assert not (tmp_path / "state" / "cron").exists()
