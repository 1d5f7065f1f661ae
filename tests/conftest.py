from __future__ import annotations

import pytest

pytest_plugins = ["fixtures.llm_servers"]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
