"""Meta's webhook signature: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>`.

The HMAC key is the app secret. Only the exact bytes received may be hashed: a body that was
parsed and serialised again would not match.
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "x-hub-signature-256"
_PREFIX = "sha256="


def sign(body: bytes, app_secret: str) -> str:
    """The header value Meta sends for `body` (tests and stand-ins use it)."""
    return _PREFIX + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def signature_ok(body: bytes, header: str | None, app_secret: str) -> bool:
    """True when `header` is the body's signature; compared in constant time."""
    if not header or not app_secret:
        return False
    given = header.strip()
    if not given.lower().startswith(_PREFIX):
        return False
    expected = sign(body, app_secret)
    return hmac.compare_digest(given[len(_PREFIX):].lower().encode(), expected[len(_PREFIX):].encode())
