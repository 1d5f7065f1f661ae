"""Structured logging: JSON lines, request ids, redaction, and message text only at DEBUG."""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from rustyclaw.logs import Redactor, current_request_id, log_text, request_context, setup_logging

BOT_TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
BEARER = "Bearer eyJhbGciOiJIUzI1NiJ9.payload.signature"
CONFIGURED = "my-configured-secret"


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    """Capture output; restore the root logger afterwards so other tests see it unchanged."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    out = io.StringIO()
    yield out
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)


def lines(out: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_tokens_in_message_and_args_never_reach_output(stream: io.StringIO, fmt: str) -> None:
    setup_logging("info", fmt, [CONFIGURED], stream=stream)  # type: ignore[arg-type]
    log = logging.getLogger("rustyclaw.test")
    log.info(f"calling https://api.telegram.org/bot{BOT_TOKEN}/getMe with {BEARER}")
    log.info("args: %s %s %s", BOT_TOKEN, BEARER, CONFIGURED)
    log.warning("headers %r", {"Authorization": BEARER, "x": f"key {CONFIGURED}"})
    log.info("extra field", extra={"auth": BEARER, "token_in_extra": BOT_TOKEN})
    try:
        raise RuntimeError(f"failed with {BOT_TOKEN}")
    except RuntimeError:
        log.exception("boom %s", CONFIGURED)
    text = stream.getvalue()
    for secret in (BOT_TOKEN, "eyJhbGciOiJIUzI1NiJ9", CONFIGURED, "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"):
        assert secret not in text
    assert "Bearer ***" in text and "***" in text
    assert "calling https://api.telegram.org/bot***/getMe" in text  # the rest of the line survives
    assert "RuntimeError: failed with ***" in text


def test_bad_log_arguments_do_not_raise(stream: io.StringIO) -> None:
    handler = setup_logging("info", "json", [CONFIGURED], stream=stream)
    # Straight to our handler: pytest's own capture handler would complain about the record first.
    record = logging.LogRecord("rustyclaw.test", logging.INFO, __file__, 1, "two %s %s", (CONFIGURED,), None)
    handler.handle(record)
    (entry,) = lines(stream)
    assert "log arguments did not fit" in entry["msg"] and CONFIGURED not in entry["msg"]


def test_redactor_patterns() -> None:
    redact = Redactor(["abc", "long-secret-value"])
    assert redact("sk-abcdefghijklmnop used") == "*** used"
    assert redact("GET /x?api_key=zzz123&q=1 token=t0k") == "GET /x?api_key=***&q=1 token=***"
    assert redact("the long-secret-value leaked") == "the *** leaked"
    assert redact("abc stays: too short to be a secret") == "abc stays: too short to be a secret"
    assert redact("at 12:30 and 5 ids 123:456") == "at 12:30 and 5 ids 123:456"


def test_json_line_fields_and_request_id(stream: io.StringIO) -> None:
    setup_logging("info", "json", stream=stream)
    log = logging.getLogger("rustyclaw.gw")
    with request_context() as rid:
        assert current_request_id() == rid and len(rid) == 8
        log.info("turn done", extra={"session": "agent:main:main", "tokens": 12})
    with request_context("given-id"):
        log.info("second")
    log.info("outside")
    assert current_request_id() is None
    first, second, outside = lines(stream)
    assert set(first) >= {"ts", "level", "logger", "msg", "request_id"}
    assert first["request_id"] == rid
    assert (first["level"], first["logger"], first["msg"]) == ("info", "rustyclaw.gw", "turn done")
    assert (first["session"], first["tokens"]) == ("agent:main:main", 12)
    assert second["request_id"] == "given-id"
    assert outside["request_id"] is None


def test_request_context_is_per_thread(stream: io.StringIO) -> None:
    seen: list[str | None] = []
    with request_context("outer"):
        worker = threading.Thread(target=lambda: seen.append(current_request_id()))
        worker.start()
        worker.join()
    assert seen == [None]


def test_message_text_only_at_debug(stream: io.StringIO) -> None:
    setup_logging("info", "json", stream=stream)
    log = logging.getLogger("rustyclaw.turn")
    log_text(log, "the user's private words")
    assert stream.getvalue() == ""
    setup_logging("debug", "json", stream=stream)
    log_text(log, "the user's private words", "inbound")
    (entry,) = lines(stream)
    assert (entry["level"], entry["msg"]) == ("debug", "inbound: the user's private words")


def test_setup_replaces_its_own_handler_and_quietens_httpx(stream: io.StringIO) -> None:
    root = logging.getLogger()
    before = len(root.handlers)
    setup_logging("info", "text", stream=stream)
    setup_logging("warning", "json", stream=stream)
    assert len(root.handlers) == before + 1
    assert root.level == logging.WARNING
    assert logging.getLogger("httpx").level == logging.WARNING


def test_text_format_shows_request_id(stream: io.StringIO) -> None:
    setup_logging("INFO", "text", stream=stream)
    with request_context("abc123"):
        logging.getLogger("rustyclaw.x").info("hello %s", "there", extra={"n": 3})
    line = stream.getvalue().strip()
    assert line.endswith("INFO    [abc123] rustyclaw.x: hello there n=3")


def test_bad_level_or_format_is_refused(stream: io.StringIO) -> None:
    with pytest.raises(ValueError, match="unknown log level"):
        setup_logging("loud", "json", stream=stream)
    with pytest.raises(ValueError, match="unknown log format"):
        setup_logging("info", "xml", stream=stream)  # type: ignore[arg-type]
