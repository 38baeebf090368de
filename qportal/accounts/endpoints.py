"""The endpoint policy of this portal, from settings: where a stored IBM token may be sent."""

from __future__ import annotations

from django.conf import settings

from executors.endpoints import EndpointPolicy


def endpoint_policy() -> EndpointPolicy:
    return EndpointPolicy(
        hosts=tuple(settings.IBM_HOSTS),
        proxy_hosts=tuple(settings.IBM_PROXY_HOSTS),
        allow_http=settings.IBM_ALLOW_HTTP,
    )
