"""The API's request-rate limit per person: ``QPORTAL_API_RATE`` requests per window, counted in
Django's cache (Redis in production, so every web process shares the count; process memory in
the embedded default).  ninja answers a refused request with 429 and ``Retry-After``.

A fixed window counted with the cache's atomic ``incr``: two cache operations per request
whatever the rate (ninja's own ``UserRateThrottle`` stores the whole request history, which grows
with the rate, and keeps per-request state on a shared object).
"""

from __future__ import annotations

import math
import threading
import time

from django.conf import settings
from django.core.cache import cache
from ninja.throttling import BaseThrottle


class PersonRateThrottle(BaseThrottle):
    """At most ``settings.API_RATE`` = (count, period seconds) API requests per authenticated person
    (ninja runs throttles after authentication: an unauthenticated request is refused before it counts)."""

    def __init__(self):
        self._waits = threading.local()  # ninja asks wait() right after allow_request(), same thread

    def allow_request(self, request) -> bool:
        if settings.API_RATE is None:
            return True
        count, period = settings.API_RATE
        now = time.time()
        window = int(now // period)
        key = f"qportal:rate:{request.user.pk}:{period}:{window}"
        cache.add(key, 0, timeout=period + 1)
        try:
            used = cache.incr(key)
        except ValueError:  # expired between add and incr: this request opens the window
            cache.add(key, 1, timeout=period + 1)
            used = 1
        self._waits.seconds = (window + 1) * period - now
        return used <= count

    def wait(self) -> int:
        return max(1, math.ceil(self._waits.seconds))


def refusal(retry_after: int | None) -> str:
    """What a refused request is told."""
    count, period = settings.API_RATE or (0, 0)
    return (
        f"too many requests: at most {count} API requests per {period} s per person (QPORTAL_API_RATE); "
        f"retry in {retry_after or period} s"
    )
