"""The documentation site builds (MkDocs Material, strict: no broken link, no page outside the nav),
with the configuration reference generated from the schema; built from a copy of docs/ so the
test writes nothing into the tree."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_docs_site_builds_with_the_generated_config_reference(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "docs", tmp_path / "docs")
    shutil.copy(ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
    reference = tmp_path / "docs" / "reference" / "config.md"
    generated = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen-config-reference.py"),
                                "--out", str(reference)], capture_output=True, text=True, timeout=60)
    assert generated.returncode == 0, generated.stderr
    text = reference.read_text()
    for key in ("`gateway`", "`openaiEndpoint`", "`llm.providers.<name>`", "`channels.telegram`", "`botToken`"):
        assert key in text, key
    built = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert built.returncode == 0, built.stdout + built.stderr
    page = (tmp_path / "site" / "reference" / "config" / "index.html").read_text()
    assert "maxMessageChars" in page
    assert (tmp_path / "site" / "openai-endpoint" / "index.html").exists()
    assert "fonts.googleapis.com" not in (tmp_path / "site" / "index.html").read_text()
