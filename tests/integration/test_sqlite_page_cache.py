"""The SQLite session store caps SQLite's page cache (issue #19: RSS grew with the database)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rustyclaw.adapters.storage.sqlite import SQLiteStore

pytestmark = pytest.mark.anyio


async def test_the_store_connection_caps_the_page_cache(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "sessions.db")
    await store.start()
    try:
        rows = list(await store._open_db().execute_fetchall("PRAGMA cache_size"))
        assert rows[0][0] == -512  # KiB, against SQLite's default of -2000
    finally:
        await store.aclose()
