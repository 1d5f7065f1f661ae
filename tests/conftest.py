from __future__ import annotations

import pytest

pytest_plugins = [
    "tests.fixtures.llm_servers",
    "tests.fixtures.sandbox",
    "tests.fixtures.discord_standin",
    "tests.fixtures.graph_standin",
    "tests.fixtures.telegram_standin",
]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
