"""Who may talk to the HTTP surface: the bearer token, and the browser checks that stand in for it.

With a token configured, every API call and WebSocket must present it (compared in constant time).
Without one the server only listens on loopback (server.py enforces that), and two browser checks
stop other web sites from driving the gateway through the user's own browser:
- the Host header must name a loopback host, which defeats DNS rebinding;
- a request that carries an Origin header must come from the same host and port (cross-site POST
  and cross-site WebSocket hijacking).
"""

from __future__ import annotations

import ipaddress
from urllib.parse import parse_qsl, urlsplit

from rustyclaw.adapters.http.asgi import HttpError, Scope, header

_CHALLENGE = (b"www-authenticate", b'Bearer realm="rustyclaw"')


def is_loopback_host(host: str) -> bool:
    """True for `localhost`, 127.0.0.0/8 and ::1 (brackets allowed)."""
    name = host.strip().strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def bearer_token(scope: Scope) -> str | None:
    value = header(scope, b"authorization")
    if value is None:
        return None
    scheme, _, token = value.decode("latin-1").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def query_token(scope: Scope) -> str | None:
    query = bytes(scope.get("query_string", b"")).decode("latin-1")
    for key, value in parse_qsl(query):
        if key == "token":
            return value or None
    return None


def token_matches(expected: str | None, given: str | None) -> bool:
    if expected is None:
        return True
    if given is None:
        return False
    import hmac  # here, not at import: hashlib's OpenSSL bindings cost 0.65 MB of RSS for tokenless setups

    return hmac.compare_digest(expected.encode(), given.encode())


def check_bearer(scope: Scope, expected: str | None) -> None:
    """Raises 401 unless the Authorization header carries the expected token (or none is configured)."""
    if expected is None:
        return
    given = bearer_token(scope)
    if given is None:
        raise HttpError(
            401,
            "missing bearer token: send 'Authorization: Bearer <gateway.auth.token>'",
            type="authentication_error",
            code="missing_api_key",
            headers=[_CHALLENGE],
        )
    if not token_matches(expected, given):
        raise HttpError(
            401,
            "invalid bearer token",
            type="authentication_error",
            code="invalid_api_key",
            headers=[_CHALLENGE],
        )


def check_browser_origin(scope: Scope, expected_token: str | None) -> None:
    """Raises 403 for a tokenless request that a foreign web page could have made (see module doc)."""
    if expected_token is not None:
        return
    host = header(scope, b"host")
    if host is None:
        return
    host_text = host.decode("latin-1").lower()
    if not is_loopback_host(_hostname(host_text)):
        raise HttpError(
            403,
            "this Host is not allowed without a token: use 127.0.0.1 or localhost, or set gateway.auth.token",
            type="permission_error",
            code="host_not_allowed",
        )
    origin = header(scope, b"origin")
    if origin is None:
        return
    origin_netloc = urlsplit(origin.decode("latin-1").lower()).netloc
    if origin_netloc != host_text:
        raise HttpError(
            403, "cross-origin requests are not allowed", type="permission_error", code="bad_origin"
        )


def _hostname(netloc: str) -> str:
    if netloc.startswith("["):
        return netloc[1 : netloc.find("]")] if "]" in netloc else netloc
    return netloc.rsplit(":", 1)[0] if netloc.count(":") == 1 else netloc
