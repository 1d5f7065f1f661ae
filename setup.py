"""Builds the Cython hot paths in ext/ when Cython and a C compiler are present.

Without them (or with RUSTYCLAW_NO_EXTENSIONS=1) the package installs pure Python: every compiled
module has a pure-Python twin that the selector modules fall back to.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).parent
EXTENSIONS = sorted(p.stem for p in (HERE / "ext").glob("_*.pyx"))


class OptionalBuildExt(build_ext):
    """A failed compile degrades to the pure-Python twins instead of failing the install."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # any toolchain failure means "no extensions"
            print(f"rustyclaw: building extensions failed ({exc}); using pure Python", file=sys.stderr)

    def build_extension(self, ext):  # type: ignore[no-untyped-def]
        try:
            super().build_extension(ext)
        except Exception as exc:  # a failed module leaves its pure-Python twin in charge
            print(f"rustyclaw: {ext.name} not built ({exc}); using its pure-Python twin", file=sys.stderr)


def extensions() -> list:  # type: ignore[type-arg]
    if os.environ.get("RUSTYCLAW_NO_EXTENSIONS") == "1" or not EXTENSIONS:
        return []
    try:
        from Cython.Build import cythonize
    except ImportError:
        print("rustyclaw: Cython not installed; using pure Python", file=sys.stderr)
        return []
    from setuptools import Extension

    modules = [
        Extension(f"rustyclaw.ext.{name}", [f"ext/{name}.pyx"], extra_compile_args=["-O3"])
        for name in EXTENSIONS
    ]
    return cythonize(modules, language_level=3, compiler_directives={"boundscheck": False,
                                                                      "wraparound": False,
                                                                      "cdivision": True})


setup(ext_modules=extensions(), cmdclass={"build_ext": OptionalBuildExt})
