"""Structured logging: JSON lines or text, a request id per turn, and redaction of secrets.

Conventions:
- User and model text is logged only at DEBUG, through `log_text(logger, text)`; INFO lines carry
  ids, counts and durations, never message content.
- `request_context()` wraps one request or turn; every record logged inside carries its id.
- Every record passes a redaction filter: configured secret values, `Bearer ...` tokens, `sk-...`
  keys, Telegram bot tokens and `api_key=` / `token=` style parameters become `***`, in the
  message, its arguments, extra fields and tracebacks.
"""

from __future__ import annotations

import contextvars
import logging
import os
import re
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import IO, Any, Literal

import msgspec

REDACTED = "***"
_MIN_SECRET_LEN = 4  # shorter values would blank out ordinary words

_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("rustyclaw_request_id", default=None)

_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]+"), r"\1 " + REDACTED),
    (re.compile(r"\bsk-[A-Za-z0-9_-]{8,}"), REDACTED),
    (re.compile(r"(?<![0-9])[0-9]+:[A-Za-z0-9_-]{30,}"), REDACTED),
    (
        re.compile(
            r"(?i)\b(api[_-]?key|access[_-]?token|refresh[_-]?token|token|secret|password|passwd)"
            r"=[^&\s\"'<>]+"
        ),
        r"\1=" + REDACTED,
    ),
]

# Attributes every LogRecord has; anything else on a record came from `extra=` and is emitted too.
_STANDARD_ATTRS = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "request_id",
}


def current_request_id() -> str | None:
    """The id of the request or turn being handled in this context, if any."""
    return _request_id.get()


def new_request_id() -> str:
    """A short random id (8 hex characters)."""
    # os.urandom rather than the secrets module, which pulls in hashlib/OpenSSL (about 4 MB).
    return os.urandom(4).hex()


@contextmanager
def request_context(request_id: str | None = None) -> Iterator[str]:
    """Mark everything logged inside with `request_id` (a fresh short id when None); yields the id."""
    rid = request_id or new_request_id()
    token = _request_id.set(rid)
    try:
        yield rid
    finally:
        _request_id.reset(token)


def log_text(logger: logging.Logger, text: str, what: str = "text") -> None:
    """Log user or model text; only at DEBUG, because message content must not reach INFO logs."""
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug("%s: %s", what, text, stacklevel=2)


class Redactor:
    """Replaces secret values and credential-shaped strings with `***`."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        values = sorted({s for s in secrets if s and len(s) >= _MIN_SECRET_LEN}, key=len, reverse=True)
        self._literal = re.compile("|".join(re.escape(v) for v in values)) if values else None

    def __call__(self, text: str) -> str:
        if self._literal is not None:
            text = self._literal.sub(REDACTED, text)
        for pattern, replacement in _PATTERNS:
            text = pattern.sub(replacement, text)
        return text


class RedactingFilter(logging.Filter):
    """Redacts a record in place (message merged with its arguments, extras, traceback); adds request_id."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "_rustyclaw_redacted", False):
            redact = self.redactor
            try:
                text = record.getMessage()
            except Exception:  # a bad format string must not break the caller
                text = f"{record.msg!r} (log arguments did not fit: {record.args!r})"
            record.msg = redact(text)
            record.args = None
            if record.exc_info and not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            if record.exc_text:
                record.exc_text = redact(record.exc_text)
            if record.stack_info:
                record.stack_info = redact(record.stack_info)
            for key, value in list(record.__dict__.items()):
                if key in _STANDARD_ATTRS or key.startswith("_") or value is None:
                    continue
                if isinstance(value, str):
                    setattr(record, key, redact(value))
                elif not isinstance(value, int | float):
                    # Containers could hold a secret anywhere; they are logged as redacted text.
                    setattr(record, key, redact(repr(value)))
            record._rustyclaw_redacted = True
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id()
        return True


def _json_default(value: Any) -> Any:
    return str(value)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, request_id, then any extra fields."""

    _encoder = msgspec.json.Encoder(enc_hook=_json_default)

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and not key.startswith("_") and key not in entry:
                entry[key] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exc"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        return self._encoder.encode(entry).decode()


class TextFormatter(logging.Formatter):
    """`time level [request] logger: message key=value ...` for terminals."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(rid)s%(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        rid = getattr(record, "request_id", None)
        record.rid = f"[{rid}] " if rid else ""
        extras = " ".join(
            f"{k}={v}"
            for k, v in record.__dict__.items()
            if k not in _STANDARD_ATTRS and not k.startswith("_") and k != "rid"
        )
        text = super().format(record)
        if extras:
            head, sep, tail = text.partition("\n")
            text = f"{head} {extras}{sep}{tail}"
        return text


_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
           "error": logging.ERROR, "critical": logging.CRITICAL}  # fmt: skip


def setup_logging(
    level: str,
    fmt: Literal["json", "text"],
    secrets: Iterable[str] = (),
    *,
    stream: IO[str] | None = None,
) -> logging.Handler:
    """Configure the root logger (replacing a handler installed by an earlier call); returns the handler."""
    numeric = _LEVELS.get(level.lower())
    if numeric is None:
        raise ValueError(f"unknown log level {level!r} (use {', '.join(_LEVELS)})")
    if fmt not in ("json", "text"):
        raise ValueError(f"unknown log format {fmt!r} (use json or text)")
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_rustyclaw", False)]:
        root.removeHandler(old)
        old.close()
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler._rustyclaw = True  # type: ignore[attr-defined]
    handler.addFilter(RedactingFilter(Redactor(secrets)))
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root.addHandler(handler)
    root.setLevel(numeric)
    # httpx logs every request URL at INFO (bot tokens sit in Telegram's URLs); keep it for debugging.
    quiet = logging.DEBUG if numeric <= logging.DEBUG else logging.WARNING
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(quiet)
    return handler
