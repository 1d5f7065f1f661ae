"""Fuzzing with Hypothesis on a fixed budget: each target tries RUSTYCLAW_FUZZ_EXAMPLES inputs
(default 100; the whole folder stays well under a minute in CI). Seeded per run by Hypothesis;
a failure prints the input and `@reproduce_failure`. No example database: CI starts clean."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "fuzz",
    max_examples=int(os.environ.get("RUSTYCLAW_FUZZ_EXAMPLES", "100")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
FUZZ = settings.get_profile("fuzz")
