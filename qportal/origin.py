"""The websocket Origin check, as strict as Django's CSRF check: scheme, host and port of the
Origin must be the page's own (the request's Host) or listed in ``CSRF_TRUSTED_ORIGINS``.

Channels' ``AllowedHostsOriginValidator`` compares host names only, so a page served from another
port of the same host (any local process) could open a user's streams with their cookie.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings

DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin_tuple(url: str) -> tuple[str, str, int] | None:
    parts = urlsplit(url)
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    try:
        port = parts.port or DEFAULT_PORTS[parts.scheme]
    except ValueError:
        return None
    return parts.scheme, parts.hostname.lower(), port


def same_origin(scope) -> bool:
    headers = dict(scope.get("headers") or [])
    origin = headers.get(b"origin", b"").decode("latin-1")
    host = headers.get(b"host", b"").decode("latin-1")
    seen = _origin_tuple(origin)
    if seen is None:
        return False
    if any(_origin_tuple(trusted) == seen for trusted in settings.CSRF_TRUSTED_ORIGINS):
        return True
    scheme = "https" if scope.get("scheme") in ("wss", "https") else "http"
    return bool(host) and _origin_tuple(f"{scheme}://{host}") == seen


class SameOriginValidator:
    """ASGI middleware: a websocket whose Origin is not the page's own is denied (HTTP 403)."""

    def __init__(self, application):
        self.application = application

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket" and not same_origin(scope):
            return await WebsocketDenier()(scope, receive, send)
        return await self.application(scope, receive, send)
