"""The `twin` fixture of the ext tests: each test runs on the pure-Python twin and the compiled one.

The compiled case is skipped only when the extension is not built, and fails instead when
RUSTYCLAW_REQUIRE_EXTENSIONS is set (CI's compiled run), so a missing build cannot hide.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from types import ModuleType

import pytest

REQUIRE = os.environ.get("RUSTYCLAW_REQUIRE_EXTENSIONS", "") not in ("", "0")


def compiled(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(f"rustyclaw.ext._{name}")
    except ImportError:
        return None


def twin_fixture(name: str, reference: ModuleType) -> Callable[..., ModuleType]:
    built = compiled(name)

    @pytest.fixture(params=["py", "c"])
    def twin(request: pytest.FixtureRequest) -> ModuleType:
        if request.param == "py":
            return reference
        if built is None:
            if REQUIRE:
                pytest.fail(f"rustyclaw.ext._{name} is not built but RUSTYCLAW_REQUIRE_EXTENSIONS is set")
            pytest.skip("compiled twin not built (python setup.py build_ext --inplace)")
        return built

    return twin
