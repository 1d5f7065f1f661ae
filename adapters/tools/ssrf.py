"""The SSRF guard: a URL is fetched only from public addresses, checked after DNS, pinned to the check.

`Guard.check(url)` resolves the host (every A/AAAA answer must be public unless private networks are
allowed) and returns a `Target` holding the checked IP; callers connect to that IP, never resolve
again, so a DNS answer that changes between check and connect (rebinding) cannot slip through.
Plugins reuse it: `Guard(allow_private=False).check(url)`.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio

from rustyclaw.domain.errors import ToolError

Resolver = Callable[[str, int], Awaitable[list[str]]]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


if TYPE_CHECKING:  # httpx loads with the first fetch, not with the gateway (idle memory)
    import httpx


async def system_resolver(host: str, port: int) -> list[str]:
    try:
        answers = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise ToolError(f"cannot resolve {host!r}: {exc}") from exc
    return list(dict.fromkeys(str(info[4][0]) for info in answers))


def blocked_reason(ip: IPAddress) -> str | None:
    """Why an address is not public (loopback, private, link-local, ...), or None when it is."""
    mapped = getattr(ip, "ipv4_mapped", None) or getattr(ip, "sixtofour", None)
    if mapped is not None:
        return blocked_reason(mapped)
    # Most specific first: Python also counts loopback and link-local as "private".
    for attribute in ("loopback", "link_local", "unspecified", "multicast", "private", "reserved"):
        if getattr(ip, f"is_{attribute}"):
            return attribute.replace("_", "-")
    if not ip.is_global:
        return "not globally routable"
    return None


@dataclass(frozen=True, slots=True)
class Target:
    """A checked URL and the IP address to connect to for it."""

    url: httpx.URL
    host: str
    ip: str

    def pinned_url(self) -> httpx.URL:
        """The URL with its host replaced by the checked IP (the Host header and SNI keep the name)."""
        return self.url.copy_with(host=self.ip)


class Guard:
    """Checks URLs against private networks; `resolver` is injectable so tests can map names."""

    def __init__(self, *, allow_private: bool = False, resolver: Resolver | None = None) -> None:
        self.allow_private = allow_private
        self._resolve = resolver or system_resolver

    async def check(self, raw: str | httpx.URL) -> Target:
        import httpx

        try:
            url = httpx.URL(raw)
        except (httpx.InvalidURL, TypeError) as exc:
            raise ToolError(f"not a valid URL: {raw!s}") from exc
        if url.scheme not in ("http", "https"):
            raise ToolError(f"only http and https URLs can be fetched, not {url.scheme or 'a relative URL'!r}")
        host = url.host
        if not host:
            raise ToolError(f"the URL {raw!s} has no host")
        if url.userinfo:
            raise ToolError("URLs with a user name or password are refused")
        port = url.port or (443 if url.scheme == "https" else 80)
        try:
            addresses = [ipaddress.ip_address(host)]
        except ValueError:
            answers = await self._resolve(host, port)
            if not answers:
                raise ToolError(f"{host!r} has no address") from None
            addresses = [ipaddress.ip_address(a.split("%", 1)[0]) for a in answers]
        if not self.allow_private:
            for ip in addresses:
                reason = blocked_reason(ip)
                if reason is not None:
                    raise ToolError(
                        f"refused to fetch {host}: it resolves to {ip}, a {reason} address "
                        "(tools.web.fetch.allowPrivateNetwork is false)"
                    )
        return Target(url=url, host=host, ip=str(addresses[0]))
