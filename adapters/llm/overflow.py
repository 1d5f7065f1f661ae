"""Recognising a server's "the prompt does not fit the context window" answer (ContextOverflowError).

Wordings seen from the servers RustyClaw talks to (OpenClaw matches the same family of strings):
- llama-cpp-python: "Requested tokens (5000) exceed context window of 4096"
- llama.cpp server: "request (5000 tokens) exceeds the available context size (4096 tokens)"
- OpenAI / vLLM: "This model's maximum context length is 4096 tokens. However, you requested 5000 tokens"
- others: "context length exceeded", "input is too long for the model", "request_too_large", ...
"""

from __future__ import annotations

import re

from rustyclaw.domain.errors import ContextOverflowError

_PATTERNS = re.compile(
    r"exceed(s|ed)? (the )?(context window|available context size|context length)"
    r"|maximum context length|context length exceeded|context_length_exceeded|exceed_context_size"
    r"|request_too_large|input is too long|prompt is too long|too many tokens"
    r"|input (token count )?exceeds the maximum number of (input )?tokens",
    re.IGNORECASE,
)
_REQUESTED = re.compile(
    r"requested tokens \((\d+)\)|request \((\d+) tokens\)|requested (\d+) tokens|resulted in (\d+) tokens"
    r"|n_prompt_tokens\W+(\d+)",
    re.IGNORECASE,
)
_WINDOW = re.compile(
    r"context window of (\d+)|context size \((\d+) tokens\)|maximum context length is (\d+)|n_ctx\W+(\d+)",
    re.IGNORECASE,
)


def _first_number(pattern: re.Pattern[str], text: str) -> int | None:
    match = pattern.search(text)
    if match is None:
        return None
    return next(int(group) for group in match.groups() if group is not None)


def overflow_error(status: int, message: str) -> ContextOverflowError | None:
    """The overflow error for a 4xx/5xx answer whose text says the prompt was too long, else None."""
    if status < 400 or _PATTERNS.search(message) is None:
        return None
    return ContextOverflowError(
        message, reported=_first_number(_REQUESTED, message), window=_first_number(_WINDOW, message)
    )
