"""Where a webhook may be sent (SSRF rules, DESIGN.md "Events to a business's own systems").

A URL must be https (plain http only to an operator-allowed private target, or with DEBUG on),
at most WEBHOOKS_MAX_URL_LENGTH characters, with no credentials, and every address its host
resolves to must be public: private, loopback, link-local, multicast, reserved and unspecified
addresses are refused unless WEBHOOKS_ALLOW_PRIVATE_TARGETS is on (development and tests)."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings


class TargetNotAllowed(Exception):
    """The message is safe to show the owner (it names no secret)."""


def _address_is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, OSError):
        raise TargetNotAllowed(f"The host {host!r} does not resolve.") from None
    return sorted({info[4][0] for info in infos})


def check_url_shape(url: str) -> tuple[str, str, int]:
    """Scheme, host and port of an acceptable URL; raises TargetNotAllowed. No DNS."""
    if len(url) > settings.WEBHOOKS_MAX_URL_LENGTH:
        raise TargetNotAllowed(f"The URL is longer than {settings.WEBHOOKS_MAX_URL_LENGTH} characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise TargetNotAllowed("Enter a valid URL.") from None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise TargetNotAllowed("Enter an https:// URL.")
    if parts.username or parts.password:
        raise TargetNotAllowed("The URL may not carry a user name or password.")
    if parts.fragment:
        raise TargetNotAllowed("The URL may not have a #fragment.")
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80)


def check_target(url: str) -> list[str]:
    """Every rule, DNS included (run at registration and again before each attempt, so a name
    that later points inside is refused then). Returns the resolved addresses."""
    scheme, host, port = check_url_shape(url)
    addresses = resolve(host, port)
    private = [a for a in addresses if not _address_is_public(a)]
    allow_private = settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS
    if private and not allow_private:
        raise TargetNotAllowed("The URL points to a private, loopback or link-local address.")
    if scheme == "http" and not (settings.DEBUG or (allow_private and private and len(private) == len(addresses))):
        raise TargetNotAllowed("Enter an https:// URL.")
    return addresses
