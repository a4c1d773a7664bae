"""Where the platform may send requests on a tenant's behalf (server-side request forgery).

A tenant names the URL of an agent to test; the platform then calls it from inside the
cluster, where cloud metadata (169.254.169.254), the database, Redis and the Ray dashboard are
reachable. :func:`check_url` refuses every address a tenant has no business reaching:

* only ``http`` and ``https``; no ``user:password@`` in the URL (it would be sent, and logged);
* every address the host resolves to (all A and AAAA answers, so one private answer among
  public ones is refused) must be a public unicast address. Link-local (metadata services),
  unspecified, multicast and reserved addresses are always refused; loopback and private ranges
  (RFC 1918, CGNAT 100.64/10, unique-local fc00::/7) only unless ``allow_private`` (an operator
  setting, for agents on the same machine or network). An IPv4-mapped IPv6 address is judged
  as the IPv4 address it maps.

:class:`EgressTransport` applies the same check to every request an ``httpx.AsyncClient`` sends,
redirects included; :func:`egress_client` builds such a client with redirects off, so a 3xx
answer is reported rather than followed.

Known limit: the name is resolved again when the connection is made, so a DNS server that
answers differently the second time (rebinding) is not stopped by the check alone; network
policy on the cluster is the backstop.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from typing import Any
from urllib.parse import urlsplit

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Not caught by the ipaddress flags but shared, not public: carrier-grade NAT.
_CGNAT = ipaddress.IPv4Network("100.64.0.0/10")


class EgressDenied(ValueError):
    """The platform will not send a request to this URL."""


_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_THIS_NETWORK = ipaddress.IPv4Network("0.0.0.0/8")  # Linux connects 0.x to the local host


def _embedded(address: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 address stands for (mapped, NAT64, 6to4), else itself."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address in _NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if address.sixtofour is not None:
            return address.sixtofour
    return address


def address_refusal(address: IPAddress, *, allow_private: bool) -> str | None:
    """Why the platform must not connect to ``address`` (None: it may)."""
    address = _embedded(address)
    if address.is_link_local:
        return "link-local (where cloud metadata answers)"
    if address.is_unspecified or address in _THIS_NETWORK:
        return "unspecified"
    if address.is_multicast:
        return "multicast"
    if address.is_loopback:  # before is_reserved, which holds ::1 (::/8)
        return None if allow_private else "loopback"
    if address.is_reserved:
        return "reserved"
    if address.is_private or address in _CGNAT:
        # is_private also covers documentation and benchmark ranges: no agent lives there, yet
        # an operator who allows private targets allows those too.
        return None if allow_private else "private"
    if not address.is_global:
        return "non-public"
    return None


async def _resolve(host: str, port: int) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise EgressDenied(f"host {host!r} does not resolve") from exc
    # sockaddr[0] may carry an IPv6 scope ("fe80::1%eth0"): the address is what comes before it.
    found = {ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos}
    if not found:
        raise EgressDenied(f"host {host!r} does not resolve")
    return sorted(found, key=str)


async def check_url(url: str, *, allow_private: bool) -> None:
    """Refuse ``url`` unless the platform may send a request there (see the module docstring).

    Raises:
        EgressDenied: the scheme, the credentials in the URL, or an address the host resolves
            to is refused; the message says which.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise EgressDenied(f"not a valid URL: {exc}") from exc
    if parts.scheme not in ("http", "https"):
        raise EgressDenied(f"scheme {parts.scheme!r} is not allowed (use http or https)")
    if parts.username is not None or parts.password is not None:
        raise EgressDenied("credentials in the URL are not allowed (use a secret header)")
    host = parts.hostname
    if not host:
        raise EgressDenied("the URL has no host")
    for address in await _resolve(host, port or (443 if parts.scheme == "https" else 80)):
        reason = address_refusal(address, allow_private=allow_private)
        if reason is not None:
            raise EgressDenied(f"host {host!r} resolves to {address}, a {reason} address")


class EgressTransport(httpx.AsyncBaseTransport):
    """An httpx transport that checks every request's URL (each redirect is a new request)
    before handing it to the wrapped transport."""

    def __init__(
        self, *, allow_private: bool, inner: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self._allow_private = allow_private
        self._inner = inner or httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await check_url(str(request.url), allow_private=self._allow_private)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


def egress_client(*, allow_private: bool, **kwargs: Any) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` for tenant-named URLs: every request checked, redirects not
    followed (a 3xx is the answer). ``kwargs`` go to the client (timeout, limits ...)."""
    return httpx.AsyncClient(
        transport=EgressTransport(allow_private=allow_private),
        follow_redirects=False,
        trust_env=False,  # a proxy from the environment would connect on the check's behalf
        **kwargs,
    )
