"""schemathesis against the published OpenAPI document (docs/openapi.json), over real sockets on
the gateway's own granian server with a scripted gateway: no 5xx for any generated request, every
status and body as documented, invalid requests refused with a 4xx. The budget is per operation
(RUSTYCLAW_FUZZ_EXAMPLES, shared with the other fuzz targets, default 100; a third of it here)."""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import positive_data_acceptance

from rustyclaw.adapters.http.app import create_app
from rustyclaw.adapters.http.mounts import with_mounts
from rustyclaw.adapters.http.server import HttpServer
from rustyclaw.adapters.http.settings import HttpSettings
from rustyclaw.adapters.http.testing import ScriptedGateway
from rustyclaw.adapters.http.voice_api import VOICE_PATH, voice_app

DOC = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"
schema = schemathesis.openapi.from_dict(json.loads(DOC.read_text(encoding="utf-8")))
EXAMPLES = max(10, int(os.environ.get("RUSTYCLAW_FUZZ_EXAMPLES", "100")) // 3)


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    """The real HTTP server in a thread of its own (schemathesis calls it synchronously)."""
    ready = threading.Event()
    holder: dict[str, Any] = {}

    async def main() -> None:
        settings_ = HttpSettings(openai_enabled=True, agent_ids=["main"], default_agent="main",
                                 max_message_chars=4000)
        gateway = ScriptedGateway()
        app = with_mounts(create_app(gateway, settings_), {VOICE_PATH: voice_app(gateway, settings_)})
        server = HttpServer(app, "127.0.0.1", 0)
        holder["server"], holder["loop"] = server, asyncio.get_running_loop()
        await server.serve(ready.set)

    thread = threading.Thread(target=lambda: asyncio.run(main()), name="openapi-server", daemon=True)
    thread.start()
    assert ready.wait(20), "the HTTP server did not start"
    server: HttpServer = holder["server"]
    try:
        yield server.url
    finally:
        asyncio.run_coroutine_threadsafe(server.aclose(), holder["loop"]).result(20)
        thread.join(20)


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                 HealthCheck.function_scoped_fixture])
def test_the_api_keeps_its_published_contract(case: Any, base_url: str) -> None:
    # Documented schemas cannot say every rule (a conversation must end with a user message, a voice
    # body must be audio the gateway can decode); valid-looking requests may still get a 4xx.
    case.call_and_validate(base_url=base_url, excluded_checks=[positive_data_acceptance])
