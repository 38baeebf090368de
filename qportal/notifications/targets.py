"""Where a webhook may be sent, and the POST that goes there.

Only ``http``/``https`` URLs without user info; the host must resolve to public addresses only
(no loopback, private, link-local, shared or reserved ranges) unless
``QPORTAL_WEBHOOK_ALLOW_PRIVATE``.  The check runs when a subscription is saved and again before
every send, and the connection goes to the address that was checked (a DNS answer that changes
between the check and the connect cannot redirect it).  Redirects are not followed.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

MAX_URL_CHARS = 2000
MAX_RESPONSE_BYTES = 64 * 1024


class InvalidTarget(ValueError):
    """The URL may not be sent to: the message says why, for a person."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str  # path and query, as sent


def parse(url: str) -> Target:
    if not url or len(url) > MAX_URL_CHARS:
        raise InvalidTarget(f"give a URL of at most {MAX_URL_CHARS} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidTarget(f"not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise InvalidTarget("the URL must start with http:// or https://")
    if parts.username is not None or parts.password is not None:
        raise InvalidTarget("the URL may not hold a user name or password; use the signing secret")
    if not parts.hostname:
        raise InvalidTarget("the URL names no host")
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise InvalidTarget("the URL may not contain spaces or control characters")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80), path)


def _refused(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


def resolve(target: Target) -> str:
    """The address to connect to; ``InvalidTarget`` if the host does not resolve or any of its
    addresses is not public (and private ones are not allowed)."""
    try:
        infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise InvalidTarget(f"the host {target.host!r} cannot be resolved") from None
    addresses = [info[4][0] for info in infos]
    if not settings.WEBHOOK_ALLOW_PRIVATE:
        for address in addresses:
            if _refused(ipaddress.ip_address(address.split("%")[0])):
                raise InvalidTarget(
                    f"the host {target.host!r} is a private or loopback address ({address}); "
                    "webhooks go to public hosts only"
                )
    return addresses[0]


def check(url: str) -> Target:
    target = parse(url)
    resolve(target)
    return target


class _Pinned(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float):
        super().__init__(host, port, timeout=timeout)
        self.address = address

    def connect(self):
        self.sock = socket.create_connection((self.address, self.port), self.timeout)


class _PinnedTLS(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float):
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self.address = address

    def connect(self):
        sock = socket.create_connection((self.address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
    """POST ``body``; the response's status code.  ``timeout`` bounds the connect and each read, and
    the whole exchange is given up once it has taken twice that."""
    target = parse(url)
    address = resolve(target)
    kind = _PinnedTLS if target.scheme == "https" else _Pinned
    conn = kind(target.host, target.port, address, timeout)
    deadline = time.monotonic() + 2 * timeout
    try:
        conn.request("POST", target.path, body=body, headers=headers)
        response = conn.getresponse()
        read = 0
        while read < MAX_RESPONSE_BYTES and time.monotonic() < deadline:
            chunk = response.read1(8192) if hasattr(response, "read1") else response.read(8192)
            if not chunk:
                break
            read += len(chunk)
        return response.status
    finally:
        conn.close()
