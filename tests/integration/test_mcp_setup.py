"""McpSetup, the root's side of MCP: config checks across sections, tools and groups in the real
registry and policy, the per-agent server lists and the sandbox rule (servers run on the host)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rustyclaw.config.schema import RustyClawConfig
from rustyclaw.domain.errors import ConfigError
from rustyclaw.domain.tools import ToolRegistry
from rustyclaw.mcp_setup import McpSetup
from rustyclaw.ports.tools import ToolContext
from rustyclaw.tools_setup import make_policy
from tests.fixtures.mcp_servers import fixture_stdio_argv

pytestmark = pytest.mark.anyio


def config(tmp_path: Path, **sections: Any) -> RustyClawConfig:
    argv = fixture_stdio_argv("--only-ten")
    base: dict[str, Any] = {
        "gateway": {"stateDir": str(tmp_path)},
        "mcp": {"servers": {"fx": {"command": argv[0], "args": list(argv[1:])}}},
    }
    for key, value in sections.items():
        base.setdefault(key, {}).update(value)
    return RustyClawConfig.model_validate(base)


def ctx(agent: str = "main", key: str = "agent:main:main") -> ToolContext:
    return ToolContext(agent_id=agent, session_key=key, session_id="s", channel="web", sender_id="u")


def test_cross_section_names_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"agents.list.0.mcp: 'nope' is not in mcp.servers \(configured: fx\)"):
        McpSetup(config(tmp_path, agents={"list": [{"id": "ops", "mcp": ["nope"]}]}), tmp_path)
    with pytest.raises(ConfigError, match=r"mcp\.allowInSandbox: 'other'"):
        McpSetup(config(tmp_path, mcp={"allowInSandbox": ["other"]}), tmp_path)
    assert McpSetup(RustyClawConfig(), tmp_path).manager is None  # no servers: nothing built


async def test_tools_join_the_registry_under_the_policy_and_the_sandbox_rule(tmp_path: Path) -> None:
    cfg = config(tmp_path, sandbox={"mode": "non-main"}, agents={"list": [{"id": "main"}, {"id": "ops", "mcp": []}]})
    setup = McpSetup(cfg, tmp_path)
    policy = make_policy(cfg)
    registry = ToolRegistry(policy=policy)
    setup.attach(registry, policy)
    await setup.start()
    try:
        assert "fx__add" in registry.names()
        assert "fx__add" in {s.name for s in registry.specs(ctx())}  # the main session is on the host anyway
        denied = policy.decide("fx__add", ctx(key="agent:main:telegram:group:42"))
        assert denied.verdict == "deny" and "mcp.allowInSandbox" in denied.rule
        assert "fx__add" not in {s.name for s in registry.specs(ctx(key="agent:main:telegram:group:42"))}
        assert policy.decide("fx__add", ctx("ops", "agent:ops:main")).rule == "agents[ops].mcp does not list fx"
        assert setup.status()["fx"]["status"] == "ready" and setup.healthy()
    finally:
        await setup.aclose()

    open_cfg = config(tmp_path, sandbox={"mode": "all"}, mcp={"allowInSandbox": ["*"]})
    allowed = McpSetup(open_cfg, tmp_path)
    policy = make_policy(open_cfg)
    registry = ToolRegistry(policy=policy)
    allowed.attach(registry, policy)
    await allowed.start()
    try:
        assert policy.decide("fx__add", ctx(key="agent:main:telegram:group:42")).verdict == "allow"
    finally:
        await allowed.aclose()


async def test_an_agent_sandboxed_on_its_own_is_held_to_the_sandbox_rule(tmp_path: Path) -> None:
    """agents.list[].sandbox.mode all with the shared mode off: that agent's sessions may not use a
    server outside mcp.allowInSandbox (it runs on the host); the other agents may."""
    cfg = config(tmp_path, agents={"list": [{"id": "main"}, {"id": "box", "sandbox": {"mode": "all"}}]})
    setup = McpSetup(cfg, tmp_path)
    policy = make_policy(cfg)
    registry = ToolRegistry(policy=policy)
    setup.attach(registry, policy)
    await setup.start()
    try:
        assert policy.decide("fx__add", ctx()).verdict == "allow"
        denied = policy.decide("fx__add", ctx("box", "agent:box:main"))
        assert denied.verdict == "deny" and denied.rule.startswith("sandbox.mode all: MCP server fx")
    finally:
        await setup.aclose()
