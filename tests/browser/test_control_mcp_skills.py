"""The control page's MCP and Skills tabs in real headless Chromium against `rustyclaw serve` with a
token, the SDK fixture MCP server over stdio (connected), a stdio server that exits at once (down,
waiting out its restart backoff) and two skills in the real skill roots (one whose requirements
this host does not meet) and one SKILL.md that cannot be used (listed as skipped, with why).
Screenshots: control-mcp.png, control-skills.png in build/artifacts/browser/.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.gateway_process import GatewayProcess
from tests.fixtures.llm_servers import LLMockServer
from tests.fixtures.mcp_servers import fixture_stdio_argv

from .conftest import start_gateway

TOKEN = "control-mcp-ui-token-0123456789abcdef"
ENV_SECRET = "fixture-env-secret-9d8c7b"


def write_skill(folder: Path, front: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "SKILL.md").write_text(f"---\n{front}\n---\nFollow these steps.\n", encoding="utf-8")


@pytest.fixture
def gateway_with_mcp(tmp_path: Path, mock_llm: LLMockServer) -> Iterator[GatewayProcess]:
    state = tmp_path / "state"
    write_skill(state / "skills" / "plant-care", "name: plant-care\ndescription: How to care for house plants.")
    write_skill(state / "skills" / "deploy",
                "name: deploy\ndescription: Ship a release.\n"
                'metadata: {"openclaw": {"requires": {"bins": ["rustyclaw-no-such-binary"]}}}')
    write_skill(state / "skills" / "half-done", "name: half-done")  # no description: skipped, said why
    fx = fixture_stdio_argv("--only-ten")
    process = start_gateway(
        tmp_path, mock_llm.base_url,
        gateway={"auth": {"token": TOKEN}},
        mcp={
            "servers": {
                "fx": {"command": fx[0], "args": list(fx[1:]), "env": {"FX_TOKEN": ENV_SECRET}},
                "broken": {"command": sys.executable, "args": ["-c", "import sys; sys.exit(3)"],
                           "connectTimeoutSeconds": 20},
            },
            # Long enough that the failed server is still down (not restarting) while the page looks.
            "restartBackoffSeconds": 300, "restartMaxSeconds": 300,
        },
    )
    try:
        yield process
    finally:
        process.stop()


def tab(page: Page, name: str) -> None:
    page.click(f"nav.tabs button[data-tab={name}]")
    expect(page.locator(f"nav.tabs button[data-tab={name}]")).to_have_attribute("aria-selected", "true")


def test_mcp_and_skills_tabs(browser: Browser, gateway_with_mcp: GatewayProcess, artifacts: Path) -> None:
    url = gateway_with_mcp.url
    assert httpx.get(f"{url}/api/control/mcp").status_code == 401  # behind the token
    assert httpx.get(f"{url}/api/control/skills").status_code == 401
    context = browser.new_context(viewport={"width": 1200, "height": 800})
    try:
        page = context.new_page()
        page.set_default_timeout(20_000)
        page.once("dialog", lambda dialog: dialog.accept(TOKEN))
        page.goto(url + "/control#mcp")

        fx = page.locator('tr[data-server="fx"]')
        expect(fx.locator("td.state")).to_have_text("connected")
        expect(fx).to_contain_text("stdio")
        fx.locator("details summary").click()
        expect(fx.locator('li[data-tool="fx__add"]')).to_contain_text("Add two integers.")
        expect(fx.locator("li[data-tool]")).to_have_count(10)
        broken = page.locator('tr[data-server="broken"]')
        expect(broken.locator("td.state")).to_have_text("down")
        expect(broken.locator("td.error-text")).not_to_be_empty()
        expect(broken).to_contain_text("next try in")
        assert ENV_SECRET not in page.content() and "FX_TOKEN" not in page.content()
        page.screenshot(path=str(artifacts / "control-mcp.png"), full_page=True)

        tab(page, "skills")
        plant = page.locator('tr[data-skill="plant-care"]')
        expect(plant).to_contain_text("How to care for house plants.")
        expect(plant).to_contain_text("managed")
        expect(plant).to_contain_text(str(Path(gateway_with_mcp.home) / "state" / "skills" / "plant-care" / "SKILL.md"))
        expect(plant.locator("td.requirements")).to_have_text("met")
        deploy = page.locator('tr[data-skill="deploy"]')
        expect(deploy.locator("td.requirements")).to_have_text("missing: needs rustyclaw-no-such-binary on PATH")
        expect(page.locator(".skipped li")).to_contain_text(["needs a 'description'"])
        expect(page.locator("main")).not_to_contain_text("null")  # no absent part drawn as text
        page.screenshot(path=str(artifacts / "control-skills.png"), full_page=True)
    finally:
        context.close()
