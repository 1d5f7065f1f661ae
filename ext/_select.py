"""Picks the compiled twin of a hot path, or its pure-Python reference.

``ext/<name>.py`` calls ``load_twin("<name>")``: it imports ``rustyclaw.ext._<name>`` (built from
``ext/_<name>.pyx`` by setup.py) unless the environment sets ``RUSTYCLAW_NO_EXTENSIONS=1`` or the
import fails, and then ``rustyclaw.ext.<name>_py``.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import os
from pathlib import Path
from types import ModuleType
from typing import Literal

Implementation = Literal["c", "py"]

NO_EXTENSIONS_ENV = "RUSTYCLAW_NO_EXTENSIONS"
REQUIRE_EXTENSIONS_ENV = "RUSTYCLAW_REQUIRE_EXTENSIONS"
_PACKAGE = "rustyclaw.ext"


def extensions_disabled() -> bool:
    """True when the environment asks for the pure-Python twins."""
    return os.environ.get(NO_EXTENSIONS_ENV, "") not in ("", "0")


def load_twin(name: str) -> tuple[ModuleType, Implementation]:
    """The module implementing ``name`` and which twin it is ("c" or "py")."""
    if not extensions_disabled():
        try:
            return importlib.import_module(f"{_PACKAGE}._{name}"), "c"
        except ImportError:
            pass  # not built here (no compiler, or RUSTYCLAW_NO_EXTENSIONS at install time)
    return importlib.import_module(f"{_PACKAGE}.{name}_py"), "py"


def compiled_file(name: str) -> Path | None:
    """The built extension file of ``name`` inside the package folder, if there is one."""
    folder = Path(__file__).parent
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        candidate = folder / f"_{name}{suffix}"
        if candidate.is_file():
            return candidate
    return None
