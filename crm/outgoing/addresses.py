"""Where a webhook may go: http(s) to public addresses only (no server-side request forgery).

A URL is checked when it is subscribed and again before every attempt, and the attempt connects
to the very address that was checked (crm.outgoing.client pins it): a host that resolved to a
public address at subscription time and to an internal one later (DNS rebinding) is refused then.
"""
from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

from crm.outgoing.errors import UnsafeAddress

SCHEMES = {"http": 80, "https": 443}
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class Target:
    """A checked URL: where to connect (`address`) and what to ask for there."""

    scheme: str
    host: str
    port: int
    address: IPAddress
    path: str  # with its query string

    @property
    def host_header(self) -> str:
        """The Host header: the URL's host, and its port when not the scheme's default."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == SCHEMES[self.scheme] else f"{host}:{self.port}"

    @property
    def pinned_url(self) -> str:
        """The URL with the checked address in place of the host name."""
        address = f"[{self.address}]" if self.address.version == 6 else str(self.address)
        return f"{self.scheme}://{address}:{self.port}{self.path}"


def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (tests replace this to fake DNS)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def refusal(address: IPAddress) -> str | None:
    """Why `address` is not reachable by webhooks, or None when it is."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_loopback:
        return None if settings.OUTGOING_WEBHOOKS_ALLOW_LOOPBACK else "a loopback address"
    for kind, flag in (("a private", address.is_private), ("a link-local", address.is_link_local),
                       ("a multicast", address.is_multicast), ("a reserved", address.is_reserved),
                       ("an unspecified", address.is_unspecified)):
        if flag:
            return f"{kind} address"
    return None if address.is_global else "not a public address"


def check_url(url: str) -> Target:
    """The checked target of `url`; UnsafeAddress says what is wrong with it."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UnsafeAddress("Give a valid http(s) URL, such as "
                            "https://example.com/hooks.") from None
    if parts.scheme not in SCHEMES or not parts.hostname:
        raise UnsafeAddress("Give an http or https URL with a host, such as "
                            "https://example.com/hooks.")
    if parts.username is not None or parts.password is not None:
        raise UnsafeAddress("Remove the user name and password from the URL: deliveries are "
                            "signed with the subscription's secret instead.")
    host, port = parts.hostname, port or SCHEMES[parts.scheme]
    try:
        found = [ipaddress.ip_address(host)]
    except ValueError:
        try:
            found = [ipaddress.ip_address(a.partition("%")[0]) for a in resolve(host, port)]
        except (OSError, UnicodeError, ValueError):
            raise UnsafeAddress(f"The host {host} does not resolve: check its name.") from None
    if not found:
        raise UnsafeAddress(f"The host {host} does not resolve: check its name.")
    for address in found:
        why = refusal(address)
        if why is not None:
            raise UnsafeAddress(f"{host} is (or resolves to) {address}, {why}: webhooks go to "
                                "public addresses only.")
    path = parts.path or "/"
    return Target(parts.scheme, host, port, found[0],
                  f"{path}?{parts.query}" if parts.query else path)
