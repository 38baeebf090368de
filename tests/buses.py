"""The two message buses for tests: in-process on a fresh in-memory layer, and Redis (db 13)."""

from __future__ import annotations

import pytest
from channels.layers import InMemoryChannelLayer

from qportal.jobs import bus

REDIS_BUS_URL = "redis://127.0.0.1:6379/13"
KINDS = ["local", pytest.param("redis", marks=pytest.mark.production)]


def new_bus(kind: str) -> bus.Bus:
    if kind == "local":
        return bus.LocalBus(InMemoryChannelLayer(capacity=1000))
    return bus.RedisBus.for_url(REDIS_BUS_URL)


async def close_bus(message_bus: bus.Bus) -> None:
    await message_bus.hub.aclose()
    await message_bus.layer.flush()  # the Redis layer also closes its connection
