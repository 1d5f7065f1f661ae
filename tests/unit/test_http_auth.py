"""Who may reach the HTTP surface: loopback detection, the bind rule, token parsing."""

from __future__ import annotations

import pytest

from rustyclaw.adapters.http.app import create_app
from rustyclaw.adapters.http.auth import bearer_token, is_loopback_host, query_token, token_matches
from rustyclaw.adapters.http.server import HttpServer, check_bind_allowed
from rustyclaw.adapters.http.settings import HttpSettings
from rustyclaw.adapters.http.testing import ScriptedGateway
from rustyclaw.domain.errors import ConfigError


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost", "LOCALHOST", "a.localhost"]
)
def test_loopback_hosts(host: str) -> None:
    assert is_loopback_host(host)


@pytest.mark.parametrize(
    "host", ["0.0.0.0", "::", "192.168.1.5", "10.0.0.1", "example.com", "localhost.evil.com", ""]
)
def test_other_hosts_are_not_loopback(host: str) -> None:
    assert not is_loopback_host(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.5", "gateway.lan"])
def test_a_tokenless_server_refuses_a_non_loopback_bind(host: str) -> None:
    app = create_app(ScriptedGateway(), HttpSettings())
    with pytest.raises(ConfigError, match=r"gateway\.auth\.token"):
        HttpServer(app, host, 0)
    with pytest.raises(ConfigError):
        HttpServer(app, host, 0, token="")


def test_a_token_allows_any_bind_and_loopback_needs_none() -> None:
    check_bind_allowed("0.0.0.0", "tok")
    check_bind_allowed("::1", None)
    check_bind_allowed("localhost", None)


def test_tokens_from_header_and_query() -> None:
    scope = {"headers": [(b"authorization", b"Bearer abc")], "query_string": b"x=1&token=q%2Bw"}
    assert bearer_token(scope) == "abc"
    assert query_token(scope) == "q+w"
    assert bearer_token({"headers": [(b"authorization", b"Basic abc")]}) is None
    assert bearer_token({"headers": []}) is None
    assert query_token({"query_string": b""}) is None


def test_token_matches() -> None:
    assert token_matches(None, None)
    assert token_matches(None, "anything")
    assert token_matches("tok", "tok")
    assert not token_matches("tok", "tok2")
    assert not token_matches("tok", None)
