"""The API's request-rate limit per person: ``QPORTAL_API_RATE`` requests per window.

A fixed window per person.  Each web process counts its own requests and adds them to the shared
count in Redis (``REDIS_URL``) in steps of a hundredth of the limit: one pipelined ``INCRBY`` +
``EXPIRE NX`` per step, which also brings back what the other processes counted.  So a request
costs a round trip only once per step, and the limit holds to within a step per process.  With no
Redis (the embedded default, one process) the count is this process's.  ninja runs the throttle
after authentication and answers a refused request with 429 and ``Retry-After``.
"""

from __future__ import annotations

import math
import threading
import time

import redis
from django.conf import settings
from ninja.throttling import BaseThrottle

_clients: dict[str, redis.Redis] = {}
_local: dict[str, int] = {}  # requests of this process not yet added to Redis (all of them without it)
_shared: dict[str, int] = {}  # the shared count as Redis last answered
_local_lock = threading.Lock()


def _redis(url: str) -> redis.Redis:
    client = _clients.get(url)
    if client is None:
        client = _clients[url] = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    return client


def count_request(key: str, period: int, limit: int) -> int:
    """This request's number in ``key``'s window, as far as this process knows it."""
    step = max(1, limit // 100) if settings.REDIS_URL else None
    with _local_lock:
        if len(_local) > 10_000:  # old windows of people who went quiet
            _local.clear()
            _shared.clear()
        _local[key] = pending = _local.get(key, 0) + 1
        if step is None:
            return pending
        if pending < step:
            return _shared.get(key, 0) + pending
        _local[key] = 0  # this thread adds them; requests meanwhile start the next step
    pipe = _redis(settings.REDIS_URL).pipeline(transaction=False)
    pipe.incrby(key, pending)
    pipe.expire(key, period + 1, nx=True)
    total = int(pipe.execute()[0])
    with _local_lock:
        _shared[key] = max(total, _shared.get(key, 0))
    return total


def reset() -> None:
    """Forget this process's counts (tests)."""
    with _local_lock:
        _local.clear()
        _shared.clear()


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
            used = count_request(f"qportal:rate:{request.user.pk}:{period}:{window}", period, count)
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
