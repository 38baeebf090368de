"""Retry with capped exponential backoff and jitter, for transient faults (429, 5xx, network)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


def backoff_delay(attempt: int, base: float, cap: float, rng: Callable[[], float] = random.random) -> float:
    """Wait before retry number ``attempt`` (0-based): "equal jitter" in ``[d/2, d]``, ``d = min(cap, base*2**n)``.

    The half-window keeps waits growing until the cap while still spreading clients apart.
    """
    ceiling = min(cap, base * 2**attempt)
    return ceiling / 2 + rng() * ceiling / 2


async def retry_async(
    fn: Callable[[], Awaitable[T]],
    *,
    attempts: int = 5,
    base: float = 0.5,
    cap: float = 30.0,
    is_transient: Callable[[BaseException], bool],
    on_retry: Callable[[int, float, BaseException], None] | None = None,
    min_delay: Callable[[BaseException], float | None] | None = None,
) -> T:
    """Await ``fn()``; on a transient error wait and try again, at most ``attempts`` calls in all.

    ``on_retry(attempt, wait, error)`` is called before each wait; ``min_delay(error)`` may raise the
    wait (a server's ``Retry-After``), still bounded by ``cap``.  The last error is re-raised.
    """
    if attempts < 1:
        raise ValueError("attempts must be at least 1")
    attempt = 0
    while True:
        try:
            return await fn()
        except Exception as error:
            if attempt + 1 >= attempts or not is_transient(error):
                raise
            wait = backoff_delay(attempt, base, cap)
            hint = min_delay(error) if min_delay else None
            if hint is not None:
                wait = min(cap, max(wait, hint))
            attempt += 1
            if on_retry is not None:
                on_retry(attempt, wait, error)
            await asyncio.sleep(wait)
