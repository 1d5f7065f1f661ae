"""Building blocks shared by every configuration section: the base model and the field types.

Files spell keys in camelCase (OpenClaw's spelling); Python code reads snake_case attributes.
Secrets are `Secret` values: a `str` subclass, so `cfg.llm.providers["x"].api_key` *is* the plain
value (use it directly in headers, URLs, clients), while `repr()` of a model shows `'***'` and
`render_config` prints `***`. Paths that start with `~/.rustyclaw` follow `RUSTYCLAW_HOME`
(or the `home` in the validation context, which the loader passes).

Sub-sections default to `{}` (`default_factory=dict`) rather than a built model, so their defaults
are validated within the same validation, with the same context.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo
from pydantic.alias_generators import to_camel

HOME_TOKEN = "~/.rustyclaw"
HOME_ENV = "RUSTYCLAW_HOME"


class Section(BaseModel):
    """Base of every configuration model: camelCase keys, snake_case attributes, unknown keys refused."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        validate_default=True,
        # YAML turns `allowFrom: [123]` or `phoneNumberId: 123` into numbers; ids are text.
        coerce_numbers_to_str=True,
        # Read and validated once: nothing may change the settings afterwards (rustyclaw/settings.py).
        frozen=True,
    )


class Secret(str):
    """A secret string: equal to and usable as its plain value, hidden by repr() and by rendering."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "'***'"

    def redacted(self) -> str:
        """What `config show` prints in place of the value."""
        return "***"


_URL_PASSWORD = re.compile(r"^(?P<head>[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*:)(?P<pw>[^@\s]*)(?P<tail>@.*)$")
_KV_PASSWORD = re.compile(r"(?i)(\bpassword\s*=\s*)('[^']*'|\S+)")


class Dsn(Secret):
    """A database URL: only its password is secret, so `config show` still shows host and database."""

    __slots__ = ()

    def redacted(self) -> str:
        match = _URL_PASSWORD.match(self)
        if match:
            return f"{match['head']}***{match['tail']}"
        return _KV_PASSWORD.sub(r"\1***", str(self))

    def password(self) -> str | None:
        """The password part, so logs can redact it on its own."""
        match = _URL_PASSWORD.match(self)
        if match:
            return match["pw"] or None
        kv = _KV_PASSWORD.search(self)
        return kv.group(2).strip("'") if kv else None


class ProblemsError(ValueError):
    """Raised by cross-field validators: each problem is (key path below the model, message).

    The loader reads these back from pydantic's error context to print full key paths.
    """

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{path}: {msg}" if path else msg for path, msg in problems))
        self.problems = problems


def rustyclaw_home(env: Any = None) -> Path:
    """The RustyClaw home folder: `RUSTYCLAW_HOME` from `env` (default os.environ), else ~/.rustyclaw."""
    source = os.environ if env is None else env
    value = source.get(HOME_ENV)
    return Path(value).expanduser() if value else Path(HOME_TOKEN).expanduser()


def _expand_path(value: Any, info: ValidationInfo) -> Any:
    if not isinstance(value, str | Path):
        return value
    text = str(value)
    if text == HOME_TOKEN or text.startswith(HOME_TOKEN + "/"):
        context = info.context if isinstance(info.context, dict) else {}
        home = context.get("home") or rustyclaw_home()
        return Path(home) / text[len(HOME_TOKEN) + 1 :]
    return Path(os.path.expanduser(text))


def _off_flag(value: Any) -> Any:
    # YAML 1.1 reads a bare `off` as False; these fields mean the word.
    return "off" if value is False else value


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


_IDENTIFIER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
_MODEL_REF = re.compile(r"^[^/\s]+/\S+$")


def _identifier(value: str) -> str:
    if not _IDENTIFIER.match(value):
        raise ValueError("should be letters, digits, '-' or '_' (starting with a letter or digit)")
    return value


def _model_ref(value: str) -> str:
    if not _MODEL_REF.match(value):
        raise ValueError("should be 'provider/model', e.g. 'ollama/llama3.2'")
    return value


def _auto_or_bool(value: Any) -> Any:
    if value == "auto" or isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "yes", "on", "1"):
        return True
    if text in ("false", "no", "off", "0"):
        return False
    raise ValueError("should be auto, true or false")


def matching(pattern: str, hint: str) -> AfterValidator:
    """Checks a string against `pattern`; a mismatch says `hint` instead of the raw pattern.

    Use as `Annotated[str, matching(...)]`.
    """
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.match(value):
            raise ValueError(hint)
        return value

    return AfterValidator(check)


Identifier = Annotated[str, AfterValidator(_identifier)]
ModelRef = Annotated[str, AfterValidator(_model_ref)]
AutoOrBool = Annotated[Literal["auto"] | bool, BeforeValidator(_auto_or_bool)]
SecretStrValue = Annotated[str, AfterValidator(Secret)]
DsnValue = Annotated[str, AfterValidator(Dsn)]
PathValue = Annotated[Path, BeforeValidator(_expand_path)]
LogLevel = Annotated[Literal["debug", "info", "warning", "error", "critical"], BeforeValidator(_lower)]


def section(alias: str | None = None) -> Any:
    """Default for a sub-section field: `{}`, built during validation so the validation context applies.

    Typed Any so a field can read `gateway: GatewayConfig = section()` without a mypy plugin.
    """
    return Field(default_factory=dict, alias=alias)


def off_flag() -> BeforeValidator:
    """Validator for enums whose first value is `off`, so a bare YAML `off` keeps its meaning."""
    return BeforeValidator(_off_flag)
