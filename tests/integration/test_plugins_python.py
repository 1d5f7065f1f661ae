"""Python plugins with the SDK, through a real Gateway: containment, permissions, the notes example."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from rustyclaw.domain.plugins import CronEvent
from tests.integration.plugins_kit import EXAMPLES, make_hooked_gateway, start_manager, write_plugin
from tests.unit.fakes import Step
from tests.unit.gateway_kit import inbound

pytestmark = pytest.mark.anyio

RAISING = '''
from rustyclaw.plugin_sdk import command, on_message, rewrite

@on_message
async def broken(message, host):
    raise RuntimeError("plugin bug")

@command("boom")
def boom(args, message, host):
    return 1 / 0
'''

POLITE = '''
from rustyclaw.plugin_sdk import on_message, rewrite

@on_message
def polite(message, host):
    return rewrite(message.text + " please")
'''

SNOOP = '''
from rustyclaw.plugin_sdk import PermissionDenied, command

@command("snoop")
async def snoop(args, message, host):
    try:
        await host.web.fetch("http://127.0.0.1:9/")
    except PermissionDenied as exc:
        return f"denied: {exc}"
    return "fetched"
'''


async def test_a_python_plugin_that_raises_does_not_break_the_turn(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    plugins = tmp_path / "plugins"
    write_plugin(plugins, "a-raising", runtime="python", source=RAISING)
    write_plugin(plugins, "b-polite", runtime="python", source=POLITE)
    manager = await start_manager([plugins], tmp_path / "state")
    kit = await make_hooked_gateway(manager, steps=[Step(text="fine")])

    with caplog.at_level(logging.WARNING, logger="rustyclaw.plugins"):
        reply = await kit.gateway.handle(inbound("tea"))
        boom = await kit.gateway.handle(inbound("/boom"))

    assert reply is not None and reply.text == "fine"
    # The raising plugin counted as pass; the next one still rewrote the message.
    assert kit.llm.requests[0].messages[-1].content == "tea please"
    assert boom is not None and boom.command == "boom" and boom.error == "The /boom command failed."
    assert "plugin bug" in caplog.text and "ZeroDivisionError" in caplog.text


async def test_python_permissions_are_the_same_checks(tmp_path: Path) -> None:
    called: list[str] = []

    async def fetch(url: str) -> tuple[int, str, str]:
        called.append(url)
        return 200, "text/plain", "x"

    plugins = tmp_path / "plugins"
    write_plugin(plugins, "snoop", runtime="python", source=SNOOP, permissions=["llm"])
    manager = await start_manager([plugins], tmp_path / "state", fetch=fetch)
    kit = await make_hooked_gateway(manager)
    reply = await kit.gateway.handle(inbound("/snoop"))
    assert reply is not None
    assert reply.text.startswith("denied: permission denied: web.fetch needs the 'web' permission")
    assert called == []


async def test_the_notes_example(tmp_path: Path) -> None:
    state = tmp_path / "state"
    manager = await start_manager([EXAMPLES], state, enabled={"shout": False, "counter": False},
                                  configs={"notes": {"maxNotes": 2}})
    kit = await make_hooked_gateway(manager, steps=[Step(text="from the model")])

    texts = ["/note buy milk", "/note call mum", "/note one more", "/notes", "ping", "hello"]
    replies = [await kit.gateway.handle(inbound(t)) for t in texts]

    assert [r.text for r in replies if r is not None] == [
        "Noted (1).", "Noted (2).", "You already have 2 notes; /notes clear to start again.",
        "1. buy milk\n2. call mum", "pong", "from the model",
    ]
    assert json.loads((state / "notes" / "storage.json").read_text()) == {"notes": ["buy milk", "call mum"]}
    notes = manager.instances[0]
    assert [h.id for h in notes.hooks.cron] == ["morning"] and notes.hooks.on_start
    assert (await notes.handle(CronEvent(job="morning", now=0.0))).error is None


async def test_a_python_handler_that_hangs_is_cancelled_by_its_timeout(tmp_path: Path) -> None:
    plugins = tmp_path / "plugins"
    hang = "import anyio\nfrom rustyclaw.plugin_sdk import on_message\n\n@on_message\n" \
           "async def hang(message, host):\n    await anyio.sleep_forever()\n"
    write_plugin(plugins, "hang", runtime="python", source=hang, limits={"timeoutSeconds": 0.05})
    manager = await start_manager([plugins], tmp_path / "state")
    kit = await make_hooked_gateway(manager, steps=[Step(text="still here")])
    reply = await kit.gateway.handle(inbound("hello"))
    assert reply is not None and reply.text == "still here"
