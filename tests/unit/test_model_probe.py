"""/readyz's model part: the embedded server's state is read fresh, never from the probe cache."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import pytest

from rustyclaw.health import ModelProbe


class EmbeddedModels:
    def __init__(self) -> None:
        self.embedded = SimpleNamespace(base_url="http://127.0.0.1:1/v1")
        self.ready = False

    def embedded_failure(self) -> str | None:
        return None

    def embedded_ready(self) -> bool:
        return self.ready


@pytest.mark.anyio
async def test_a_started_embedded_model_is_reported_at_once() -> None:
    models = EmbeddedModels()
    root = cast(Any, SimpleNamespace(models=models))
    probe = ModelProbe()
    assert (await probe.report(root))["state"] == "starting"
    models.ready = True
    # Within the network probes' cache period: the old "starting" must not be served.
    assert (await probe.report(root))["state"] == "reachable"
