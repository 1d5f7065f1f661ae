"""The web chat under `gateway.replicas` in real headless Chromium: a page open on replica A shows a
reply of its conversation made on replica B (a message posted through B's `POST /api/chat`),
relayed over PostgreSQL NOTIFY; a reply of another conversation does not show and does not switch
the page's conversation.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.gateway_process import GatewayProcess
from tests.e2e.test_serve_replicas import schema_dsn, two_replicas
from tests.fixtures.llm_servers import LLMockServer

__all__ = ["schema_dsn"]

pytestmark = [pytest.mark.postgres]


@pytest.fixture
def replicas(tmp_path: Path, mock_llm: LLMockServer, schema_dsn: str) -> Iterator[list[GatewayProcess]]:
    gateways, _ = two_replicas(tmp_path, mock_llm, schema_dsn)
    try:
        for gateway in gateways:
            gateway.start(timeout=40)
        yield gateways
    finally:
        for gateway in gateways:
            if gateway.process is not None and gateway.process.poll() is None:
                gateway.stop()


def test_a_page_on_one_replica_shows_its_conversation_answered_on_the_other(
    page: Page, replicas: list[GatewayProcess], mock_llm: LLMockServer,
) -> None:
    a, b = replicas
    mock_llm.reply("Answer.", times=None)
    page.goto(a.url + "/")
    expect(page.locator("#status")).to_have_text("connected")
    page.fill("#input", "from the page")
    page.press("#input", "Enter")
    expect(page.locator(".msg.assistant")).to_have_text(["Answer."])
    session = page.evaluate("localStorage.getItem('rustyclaw.session')")
    assert isinstance(session, str) and session

    elsewhere = httpx.post(f"{b.url}/api/chat", json={"message": "another conversation", "session": "other-1"},
                           timeout=60)
    assert elsewhere.status_code == 200
    answer = httpx.post(f"{b.url}/api/chat", json={"message": "from another tab", "session": session}, timeout=60)
    assert answer.status_code == 200
    expect(page.locator(".msg.user")).to_have_text(["from the page", "from another tab"])
    expect(page.locator(".msg.assistant")).to_have_text(["Answer.", "Answer."])
    assert page.evaluate("localStorage.getItem('rustyclaw.session')") == session
