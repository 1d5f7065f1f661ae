"""Fuzzing the configuration loader: any file text, any parsed tree and any `${...}` text end in a
valid configuration or one ConfigError (never another exception, never a hang)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from rustyclaw.config.loader import validate
from rustyclaw.config.substitute import substitute
from rustyclaw.config.yaml_io import parse_yaml
from rustyclaw.domain.errors import ConfigError
from tests.fuzz.conftest import FUZZ

SECTIONS = ["gateway", "agents", "llm", "sessions", "tools", "sandbox", "voice", "channels", "delivery",
            "plugins", "storage", "cron", "mcp", "skills"]
KEYS = ["host", "port", "auth", "token", "dmScope", "enabled", "botToken", "allowFrom", "dmPolicy", "routes",
        "default", "primary", "providers", "baseUrl", "backend", "timeoutSeconds", "telegram", "jobs", "x"]
scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True),
                    st.text(max_size=30), st.sampled_from(["${HOME}", "$${x}", "${NOPE:-d}", "0.0.0.0", "*"]))
trees = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4),
    st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), inner, max_size=4)), max_leaves=20)
yaml_texts = st.one_of(
    st.text(max_size=300),
    st.lists(st.sampled_from(["a:", "  b: 1", "- x", "&a [1]", "*a", "{", "}", "[", "!!python/object:os.system",
                              "c: &x {k: *x}", "'", '"', "\t", "key: value", ": :", "<<: *a"]),
             max_size=12).map("\n".join),
)


@FUZZ
@given(yaml_texts)
def test_any_yaml_text_parses_or_is_one_config_error(text: str) -> None:
    try:
        parse_yaml(Path("fuzz.yaml"), text)
    except ConfigError as exc:
        assert str(exc).startswith("fuzz.yaml")


@FUZZ
@given(st.dictionaries(st.sampled_from(SECTIONS), trees, max_size=4))
def test_any_parsed_tree_validates_or_is_one_config_error(data: dict[str, Any]) -> None:
    try:
        validate(data, "fuzz.yaml", Path("/tmp/rustyclaw-fuzz-home"))
    except ConfigError as exc:
        assert "fuzz.yaml" in str(exc)


@FUZZ
@given(trees, st.dictionaries(st.from_regex(r"[A-Z_]{1,6}", fullmatch=True), st.text(max_size=20), max_size=3))
def test_substitution_never_fails_otherwise(data: Any, env: dict[str, str]) -> None:
    try:
        substitute(data, env, "fuzz.yaml")
    except ConfigError as exc:
        assert "is not set" in str(exc)
