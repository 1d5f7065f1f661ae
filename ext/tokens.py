"""Token estimates and chat-format accounting; the compiled twin when built, else pure Python.

``IMPLEMENTATION`` says which one was loaded ("c" or "py"); see ``ext/_select.py``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rustyclaw.ext._select import Implementation, load_twin

__all__ = [
    "IMPLEMENTATION",
    "MESSAGE_OVERHEAD",
    "NAME_OVERHEAD",
    "REPLY_PRIMING",
    "count_messages",
    "estimate",
    "message_overhead",
]

_impl, _which = load_twin("tokens")
IMPLEMENTATION: Implementation = _which

if TYPE_CHECKING:
    from rustyclaw.ext.tokens_py import (
        MESSAGE_OVERHEAD,
        NAME_OVERHEAD,
        REPLY_PRIMING,
        count_messages,
        estimate,
        message_overhead,
    )
else:
    estimate = _impl.estimate
    message_overhead = _impl.message_overhead
    count_messages = _impl.count_messages
    MESSAGE_OVERHEAD = _impl.MESSAGE_OVERHEAD
    NAME_OVERHEAD = _impl.NAME_OVERHEAD
    REPLY_PRIMING = _impl.REPLY_PRIMING
