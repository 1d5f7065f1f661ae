"""Turning request bodies into typed values, with 400/413 errors that name the bad field."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import TypeVar

import msgspec

from rustyclaw.adapters.http.asgi import HttpError

T = TypeVar("T")

# Session ids end up inside session keys (`agent:<a>:web:direct:<peer>`): no colons, no spaces.
_SESSION_ID = re.compile(r"[A-Za-z0-9._@+\-]{1,128}")
_AT_PATH = re.compile(r" - at `\$\.?(.*)`$")
_MISSING = re.compile(r"missing required field `([^`]+)`")


def decode_json(body: bytes, type: type[T]) -> T:
    """Decodes and validates in one pass; the 400's `param` names the offending field."""
    try:
        return msgspec.json.decode(body, type=type)
    except msgspec.ValidationError as exc:
        text = str(exc)
        raise HttpError(
            400, f"invalid request: {text}", code="invalid_request", param=_field_of(text)
        ) from exc
    except msgspec.DecodeError as exc:
        raise HttpError(400, f"invalid JSON: {exc}", code="invalid_json") from exc
    except RecursionError as exc:
        raise too_deep() from exc


# msgspec stops at the interpreter's recursion limit (1000 levels here) with RecursionError, not a
# DecodeError; no request of this API nests anywhere near that, so past it is a client error.
JSON_DEPTH_MESSAGE = "invalid JSON: nested too deeply (the limit is about 1000 levels of arrays and objects)"


def too_deep() -> HttpError:
    return HttpError(400, JSON_DEPTH_MESSAGE, code="json_too_deep")


def _field_of(message: str) -> str | None:
    found = _AT_PATH.search(message)
    missing = _MISSING.search(message)
    if missing is not None:
        prefix = found.group(1) if found else ""
        return f"{prefix}.{missing.group(1)}" if prefix else missing.group(1)
    if found is not None:
        return found.group(1) or None
    return None


def checked_session_id(value: str | None, field: str) -> str | None:
    if value is None:
        return None
    if not _SESSION_ID.fullmatch(value):
        raise HttpError(
            400,
            f"{field} must be 1-128 characters of letters, digits and . _ @ + -",
            code="invalid_session",
            param=field,
        )
    return value


def new_session_id() -> str:
    return "web-" + os.urandom(8).hex()


def checked_text(text: str, limit: int, field: str) -> str:
    if not text.strip():
        raise HttpError(400, f"{field} is empty", code="empty_message", param=field)
    if len(text) > limit:
        raise HttpError(
            413, f"{field} is longer than {limit} characters", code="message_too_long", param=field
        )
    return text


def checked_agent(value: str | None, agent_ids: Sequence[str], field: str) -> str | None:
    if value is None or value in agent_ids:
        return value
    raise HttpError(404, f"unknown agent '{value}'", code="agent_not_found", param=field)
