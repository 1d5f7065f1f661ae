"""The repository layout (top-level domain/ ports/ adapters/ ...) is importable and checkable as
`rustyclaw.*` from a checkout, with exactly one copy of each module."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("domain", "ports", "adapters", "ext", "config", "migrations")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_a_checkout_imports_rustyclaw_domain_without_an_install() -> None:
    # -S: no site-packages, so no editable install can help; the checkout alone must resolve it.
    out = run("-S", "-c", "import rustyclaw.domain.errors as e, rustyclaw.ports.turn_lock; print(e.__file__)")
    assert out.returncode == 0, out.stderr
    assert Path(out.stdout.strip()).resolve() == ROOT / "domain" / "errors.py"


def test_a_top_level_folder_is_not_a_second_copy_of_its_package() -> None:
    for name in PACKAGES:
        out = run("-c", f"import {name}")
        assert out.returncode != 0, f"`import {name}` gave a second copy of rustyclaw.{name}"
        assert f"import rustyclaw.{name}, not {name}" in out.stderr


def test_one_error_class_whichever_way_the_package_is_reached() -> None:
    code = (
        "import importlib, rustyclaw.domain.errors as a\n"
        "b = importlib.import_module('rustyclaw.domain.errors')\n"
        "assert a.ConfigError is b.ConfigError\n"
        "try:\n    import domain.errors\nexcept ImportError:\n    print('refused')\n"
    )
    out = run("-c", code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "refused"


def test_plain_mypy_sees_every_module() -> None:
    code = (
        "from mypy.find_sources import create_source_list\n"
        "from mypy.options import Options\n"
        "from mypy.config_parser import parse_config_file\n"
        "o = Options(); parse_config_file(o, lambda: None, 'pyproject.toml')\n"
        "print('\\n'.join(sorted(s.module for s in create_source_list(o.files, o))))\n"
    )
    out = run("-c", code)
    assert out.returncode == 0, out.stderr
    seen = set(out.stdout.split())
    expected = {f"rustyclaw.{p.stem}" for p in (ROOT / "rustyclaw").glob("*.py") if p.stem != "__init__"}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(("rustyclaw", *parts))
            expected.add(name.removesuffix(".__init__"))
    missing = sorted(expected - seen)
    assert not missing, f"plain mypy misses {len(missing)} modules, e.g. {missing[:5]}"
