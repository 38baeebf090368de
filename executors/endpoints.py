"""Where an IBM token may be sent: the endpoint policy checked before any request carries it.

A credential's ``url`` decides the hosts the client talks to (``iam.<host>``, ``quantum.<host>``, ...),
and its ``proxies`` see every request. Both are checked against an :class:`EndpointPolicy` before a
``QiskitRuntimeService`` is built, so a token never leaves for a host nobody allowed. The default
policy is IBM's own hosts over https, with no proxies; an administrator widens it by settings.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

# IBM Quantum Platform and IBM Cloud (public and private endpoints of every region).
IBM_HOSTS = ("cloud.ibm.com", "*.cloud.ibm.com", "quantum.ibm.com", "*.quantum.ibm.com")


class EndpointRefused(ValueError):
    """A credential names a host or scheme the policy does not allow (the message never has the token)."""


def host_matches(host: str, patterns: Iterable[str]) -> bool:
    """``host`` equals a pattern, or ends with the part after a pattern's leading ``*.``."""
    host = host.lower().rstrip(".")
    for pattern in patterns:
        pattern = pattern.lower().strip()
        if pattern.startswith("*.") and host.endswith(pattern[1:]) and len(host) > len(pattern) - 1:
            return True
        if host == pattern:
            return True
    return False


@dataclass(frozen=True)
class EndpointPolicy:
    """Hosts a token may be sent to (``hosts``), proxies it may travel through (``proxy_hosts``)."""

    hosts: tuple[str, ...] = IBM_HOSTS
    proxy_hosts: tuple[str, ...] = ()
    allow_http: bool = False

    def check_url(self, url: str | None) -> None:
        if not url:
            return  # the client's default: IBM's own endpoint
        parts = urlsplit(url)
        schemes = ("https", "http") if self.allow_http else ("https",)
        if parts.scheme not in schemes:
            raise EndpointRefused(f"url must be an {' or '.join(schemes)} URL")
        if parts.username or parts.password:
            raise EndpointRefused("url must not carry a user name or password")
        host = parts.hostname or ""
        if not host_matches(host, self.hosts):
            raise EndpointRefused(
                f"url: {host or '(no host)'} is not an IBM Quantum endpoint; allowed: {', '.join(self.hosts)} "
                "(an administrator can add hosts with QPORTAL_IBM_HOSTS)"
            )

    def check_proxies(self, proxies: dict[str, Any] | None) -> None:
        urls = (proxies or {}).get("urls") or {}
        for scheme, proxy in urls.items():
            if scheme in ("no", "no_proxy"):  # requests' list of hosts that bypass the proxy
                continue
            host = urlsplit(proxy).hostname or ""
            if not host_matches(host, self.proxy_hosts):
                raise EndpointRefused(
                    f"proxies.urls.{scheme}: {host or '(no host)'} is not an allowed proxy "
                    "(an administrator lists proxies with QPORTAL_IBM_PROXY_HOSTS)"
                )

    def check(self, credential: Any) -> None:
        """Raise :class:`EndpointRefused` unless every place ``credential`` would send its token is allowed."""
        self.check_url(getattr(credential, "url", None))
        self.check_proxies(getattr(credential, "proxies", None))
