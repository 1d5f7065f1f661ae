"""The selectors load the compiled twins when they are built, and the Python ones when asked."""

from __future__ import annotations

import os
import subprocess
import sys
from types import ModuleType

import pytest

from rustyclaw.ext import _select, pruning, pruning_py, tokens, tokens_py

TWINS: dict[str, tuple[ModuleType, ModuleType, str]] = {
    "tokens": (tokens, tokens_py, "estimate"),
    "pruning": (pruning, pruning_py, "plan"),
}
NAMES = sorted(TWINS)


@pytest.mark.parametrize("name", NAMES)
def test_selector_loads_what_is_there(name: str) -> None:
    selector, reference, function = TWINS[name]
    built = _select.compiled_file(name) is not None
    if _select.extensions_disabled():
        assert selector.IMPLEMENTATION == "py"
    elif built:
        # A built module that fails to import must not silently fall back to Python.
        assert selector.IMPLEMENTATION == "c"
        compiled = sys.modules[f"rustyclaw.ext._{name}"]
        assert getattr(selector, function) is getattr(compiled, function)
    else:
        assert selector.IMPLEMENTATION == "py"
    if selector.IMPLEMENTATION == "py":
        assert getattr(selector, function) is getattr(reference, function)


@pytest.mark.skipif(
    os.environ.get(_select.REQUIRE_EXTENSIONS_ENV, "") in ("", "0"),
    reason="only CI's extension run sets RUSTYCLAW_REQUIRE_EXTENSIONS",
)
@pytest.mark.parametrize("name", NAMES)
def test_extensions_required(name: str) -> None:
    assert _select.compiled_file(name) is not None, f"ext/_{name}.pyx was not built in place"
    assert TWINS[name][0].IMPLEMENTATION == "c"


def _implementations(env: dict[str, str]) -> str:
    code = "from rustyclaw.ext import pruning, tokens; print(tokens.IMPLEMENTATION, pruning.IMPLEMENTATION)"
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True, timeout=60
    )
    return result.stdout.strip()


def test_environment_switch_selects_python() -> None:
    env = {**os.environ, _select.NO_EXTENSIONS_ENV: "1"}
    assert _implementations(env) == "py py"


def test_without_the_switch_built_twins_are_used() -> None:
    env = {k: v for k, v in os.environ.items() if k != _select.NO_EXTENSIONS_ENV}
    expected = " ".join("c" if _select.compiled_file(n) else "py" for n in ("tokens", "pruning"))
    assert _implementations(env) == expected


def test_failed_import_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(_select.NO_EXTENSIONS_ENV, raising=False)
    monkeypatch.setitem(sys.modules, "rustyclaw.ext._tokens", None)  # makes the import fail
    module, which = _select.load_twin("tokens")
    assert (module, which) == (tokens_py, "py")


@pytest.mark.parametrize(("value", "disabled"), [("1", True), ("yes", True), ("0", False), ("", False)])
def test_switch_values(monkeypatch: pytest.MonkeyPatch, value: str, disabled: bool) -> None:
    monkeypatch.setenv(_select.NO_EXTENSIONS_ENV, value)
    assert _select.extensions_disabled() is disabled
