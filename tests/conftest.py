from __future__ import annotations

import pytest

pytest_plugins = [
    "tests.fixtures.llm_servers",
    "tests.fixtures.sandbox",
]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
