"""The API's request-rate limit per person: ``QPORTAL_API_RATE`` requests per window.

A fixed window per person, counted where every web process sees it: with ``REDIS_URL`` one
pipelined ``INCR`` + ``EXPIRE NX`` on Redis (one round trip, atomic per command), otherwise a
counter in this process (the embedded default has one).  ninja runs the throttle after
authentication and answers a refused request with 429 and ``Retry-After``.  The cost is on every
API request: see bench/README.md, benchmark 4.
"""

from __future__ import annotations

import math
import threading
import time

import redis
from django.conf import settings
from ninja.throttling import BaseThrottle

_clients: dict[str, redis.Redis] = {}
_local: dict[str, int] = {}
_local_lock = threading.Lock()


def _redis(url: str) -> redis.Redis:
    client = _clients.get(url)
    if client is None:
        client = _clients[url] = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    return client


def count_request(key: str, period: int) -> int:
    """This request's number in ``key``'s window (the window's keys expire with it)."""
    if settings.REDIS_URL:
        pipe = _redis(settings.REDIS_URL).pipeline(transaction=False)
        pipe.incr(key)
        pipe.expire(key, period + 1, nx=True)
        return int(pipe.execute()[0])
    with _local_lock:
        if len(_local) > 10_000:  # old windows of people who went quiet
            _local.clear()
        _local[key] = used = _local.get(key, 0) + 1
        return used


def reset() -> None:
    """Forget this process's counts (tests)."""
    with _local_lock:
        _local.clear()


class PersonRateThrottle(BaseThrottle):
    """At most ``settings.API_RATE`` = (count, period seconds) API requests per authenticated person."""

    def __init__(self):
        self._waits = threading.local()  # ninja asks wait() right after allow_request(), same thread

    def allow_request(self, request) -> bool:
        if settings.API_RATE is None:
            return True
        count, period = settings.API_RATE
        now = time.time()
        window = int(now // period)
        try:
            used = count_request(f"qportal:rate:{request.user.pk}:{period}:{window}", period)
        except redis.RedisError:  # the limit is protection, not the service: a Redis fault lets the request through
            return True
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
